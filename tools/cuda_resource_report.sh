#!/usr/bin/env bash
# CUDA kernel resource report: compiles src/cuda/kernels/*.cu (or the .cu files given as
# arguments) with `-Xptxas -v` for each arch in $ARCHS (default "80 90": sm_80 and sm_90) and
# prints one line per kernel and arch: registers, spill stores/loads (bytes), stack frame and
# static shared memory (bytes), then the number of kernels that spill. Exit status 1 if any
# kernel spills (so it can gate a build), 2 if a compile fails.
#
# Flags: taken from build/compile_commands.json (or $COMPILE_COMMANDS) when it has an entry for
# the file (its -gencode/-arch/-o/-c/depfile options are replaced), else the release flags of
# meson.build written out below. Objects go to a temporary directory; nothing in the tree changes.
#
#   tools/cuda_resource_report.sh                         # every kernel file, sm_80 and sm_90
#   ARCHS=90 tools/cuda_resource_report.sh src/cuda/kernels/norm.cu
#   VERBOSE=1 ...                                         # also print ptxas's raw output
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
ARCHS="${ARCHS:-80 90}"
CC_JSON="${COMPILE_COMMANDS:-$ROOT/build/compile_commands.json}"
[ -x "$NVCC" ] || { echo "nvcc not found (set NVCC=...)" >&2; exit 2; }

if [ $# -gt 0 ]; then files=("$@"); else files=("$ROOT"/src/cuda/kernels/*.cu); fi

# shellcheck disable=SC2054  # the comma in -Xcompiler=-Wall,-Wextra is nvcc syntax
DEFAULT_FLAGS=(-DNDEBUG -Xcompiler=-Wall,-Wextra --std=c++20 -O3 -DTESSERA_HAVE_CUDA=1
  --expt-relaxed-constexpr -Xptxas=-warn-spills --extended-lambda -Xcompiler=-fPIC
  -I/usr/local/cuda/include -I"$ROOT/include" -I"$ROOT")

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Prints the flags of compile_commands.json's entry for file $1, one per line, minus output,
# input, depfile and arch options; prints nothing (status 1) when there is no entry.
flags_from_db() {
  [ -f "$CC_JSON" ] || return 1
  python3 - "$CC_JSON" "$1" <<'PY'
import json, os, shlex, sys
db, want = sys.argv[1], os.path.realpath(sys.argv[2])
for e in json.load(open(db)):
    f = os.path.realpath(os.path.join(e.get("directory", "."), e["file"]))
    if f != want:
        continue
    args = e.get("arguments") or shlex.split(e["command"])
    out, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c", "-MF", "-MT", "-MQ", "-gencode", "-arch", "--generate-code", "-odir"):
            skip = True
            continue
        if a.startswith(("-gencode=", "--generate-code=", "-arch=", "--gpu-architecture=", "-code=",
                         "-MD", "-MMD", "-MF", "-MT", "-MQ", "-o")) or a == sys.argv[2] or \
                os.path.realpath(os.path.join(e.get("directory", "."), a)) == want:
            continue
        # relative include paths are relative to the entry's directory
        if a.startswith("-I") and len(a) > 2 and not os.path.isabs(a[2:]):
            a = "-I" + os.path.normpath(os.path.join(e.get("directory", "."), a[2:]))
        out.append(a)
    print("\n".join(out))
    sys.exit(0)
sys.exit(1)
PY
}

for f in "${files[@]}"; do
  f="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
  if dbflags="$(flags_from_db "$f")" && [ -n "$dbflags" ]; then
    mapfile -t flags <<<"$dbflags"
    dir="$(python3 -c 'import json,os,sys
for e in json.load(open(sys.argv[1])):
    if os.path.realpath(os.path.join(e.get("directory","."),e["file"]))==os.path.realpath(sys.argv[2]): print(e.get("directory",".")); break' "$CC_JSON" "$f")"
  else
    flags=("${DEFAULT_FLAGS[@]}")
    dir="$ROOT"
  fi
  [ -n "${VERBOSE:-}" ] && echo "flags for $(basename "$f"): ${flags[*]}" >&2
  gen=()
  for a in $ARCHS; do gen+=("-gencode=arch=compute_$a,code=sm_$a"); done
  log="$tmp/$(basename "$f").log"
  if ! (cd "$dir" && "$NVCC" "${flags[@]}" "${gen[@]}" -Xptxas -v -o "$tmp/x.o" -c "$f") >"$log" 2>&1; then
    cat "$log" >&2
    echo "compile failed: $f" >&2
    exit 2
  fi
  [ -n "${VERBOSE:-}" ] && cat "$log" >&2
  # compiler warnings other than ptxas's resource lines are worth seeing
  grep -v -e '^ptxas info' -e '^ptxas warning : Registers are spilled' -e '^    [0-9]* bytes stack frame' "$log" >&2
  echo "compiled $(basename "$f") for sm_${ARCHS// /, sm_}" >&2
  cat "$log" >>"$tmp/all.log"
done

python3 - "$tmp/all.log" <<'PY'
import re, subprocess, sys
ent = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
props = re.compile(r"Function properties for (\S+)")
frame = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
used = re.compile(r"Used (\d+) registers")
smem = re.compile(r"(\d+) bytes smem")
rows, cur, arch, last = [], None, None, None
for line in open(sys.argv[1]):
    if m := ent.search(line):
        cur, arch = {"name": m[1], "arch": m[2], "regs": 0, "st": 0, "ld": 0, "stack": 0, "smem": 0}, m[2]
        rows.append(cur)
        last = m[1]
    elif m := props.search(line):
        last = m[1]
    elif (m := frame.search(line)) and cur and last == cur["name"]:
        cur["stack"], cur["st"], cur["ld"] = int(m[1]), int(m[2]), int(m[3])
    elif (m := used.search(line)) and cur:
        cur["regs"] = int(m[1])
        if s := smem.search(line):
            cur["smem"] = int(s[1])
if not rows:
    print("no kernels found"); sys.exit(0)
dem = subprocess.run(["c++filt"], input="\n".join(r["name"] for r in rows), capture_output=True, text=True).stdout.split("\n")

def shorten(s):
    # drop the parameter list (the last top-level parenthesised group), namespaces and 'void '
    if s.endswith(")"):
        d = 0
        for i in range(len(s) - 1, -1, -1):
            d += {")": 1, "(": -1}.get(s[i], 0)
            if d == 0:
                s = s[:i]
                break
    s = re.sub(r"^void ", "", s)
    s = re.sub(r"\(anonymous namespace\)::", "", s)
    s = re.sub(r"\b(tessera::cuda::kern::|tessera::)", "", s)
    s = re.sub(r"\([^()]*\)::\{lambda\([^()]*\)#(\d+)\}", r"::{lambda#\1}", s)  # lambdas: no signatures
    return s

for r, d in zip(rows, dem):
    r["short"] = shorten(d or r["name"])
w = max(len(r["short"]) for r in rows)
print(f"{'kernel':<{w}}  {'arch':<5} {'regs':>4} {'spill st':>8} {'spill ld':>8} {'stack':>5} {'smem':>6}")
spilling = set()
for r in rows:
    flag = ""
    if r["st"] or r["ld"]:
        spilling.add((r["name"], r["arch"]))
        flag = "  SPILL"
    print(f"{r['short']:<{w}}  {r['arch']:<5} {r['regs']:>4} {r['st']:>8} {r['ld']:>8} {r['stack']:>5} {r['smem']:>6}{flag}")
print(f"\n{len(rows)} kernel builds, {len(spilling)} spill"
      + (": " + ", ".join(sorted({next(x['short'] for x in rows if x['name'] == n) + ' ' + a for n, a in spilling})) if spilling else ""))
sys.exit(1 if spilling else 0)
PY
exit $?
