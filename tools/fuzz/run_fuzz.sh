#!/usr/bin/env bash
# Builds tools/fuzz/fuzz_safetensors with clang (-fsanitize=fuzzer,address,undefined) and runs it
# for a fixed time from the seed corpus (tools/fuzz/corpus + tests/data/*.safetensors).
#   tools/fuzz/run_fuzz.sh [BUILD_DIR [SECONDS]]      (defaults: build, $FUZZ_SECONDS or 60)
# Exit status: 0 no finding, 1 a finding (crash, sanitizer report, leak, escaped exception; the
# input is saved as BUILD_DIR/fuzz/crash-*), 77 skipped (no clang++ with libFuzzer; install
# Debian's clang and libclang-rt-dev), 2 the build failed.
# The parser sources (safetensors, crc32c, file_io, shape) and nlohmann-json are compiled with the
# sanitizers; Tensor/Storage come from BUILD_DIR's libtessera (built by meson, uninstrumented).
# Extra libFuzzer flags: FUZZ_ARGS="-jobs=2 -workers=2".
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)" || { echo "run_fuzz: no build directory ${1:-$root/build}" >&2; exit 2; }
secs="${2:-${FUZZ_SECONDS:-60}}"
cxx="${FUZZ_CXX:-clang++}"

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run_fuzz: SKIP: $cxx not found (apt-get install clang libclang-rt-dev), safetensors fuzzing not run"
  exit 77
fi
lib="$(ls "$build"/libtessera.so* 2>/dev/null | head -n1)"
if [ -z "$lib" ]; then
  echo "run_fuzz: no libtessera.so in $build; build it first (ninja -C $build)" >&2
  exit 2
fi
out="$build/fuzz"
mkdir -p "$out"
probe="$out/probe.cpp"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe"
if ! "$cxx" -fsanitize=fuzzer "$probe" -o "$out/probe" >/dev/null 2>&1; then
  echo "run_fuzz: SKIP: $cxx cannot link libFuzzer (apt-get install libclang-rt-dev), safetensors fuzzing not run"
  exit 77
fi

bin="$out/fuzz_safetensors"
# shape.cpp too: its definitions take precedence over the library's (symbol interposition), so the
# stride arithmetic of the tensors parse() creates runs under UBSan as well.
srcs=("$root/tools/fuzz/fuzz_safetensors.cpp" "$root/src/tensor/safetensors.cpp" "$root/src/tensor/crc32c.cpp"
      "$root/src/tensor/file_io.cpp" "$root/src/tensor/shape.cpp")
deps=("${srcs[@]}" "$root/src/tensor/safetensors.h" "$root/src/tensor/crc32c.h" "$root/src/tensor/file_io.h"
      "$root/src/tensor/shape.h" "$root/src/tensor/tensor.h" "$root/src/tensor/raw.h" "$0")
stale=0
[ -x "$bin" ] || stale=1
for f in "${deps[@]}"; do [ "$f" -nt "$bin" ] && stale=1; done
if [ "$stale" = 1 ]; then
  echo "run_fuzz: building $bin"
  # -march as the library (crc32c takes its SSE4.2 path); the library itself is not instrumented.
  if ! "$cxx" -std=c++20 -O1 -g -march=x86-64-v3 -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I"$root/include" \
      $(pkg-config --cflags fmt nlohmann_json 2>/dev/null) \
      "${srcs[@]}" -o "$bin" "$lib" -Wl,-rpath,"$build" $(pkg-config --libs fmt); then
    echo "run_fuzz: build failed" >&2
    exit 2
  fi
fi

corpus="$out/corpus"  # grows across runs; the seeds stay untouched
mkdir -p "$corpus"
cp -n "$root"/tools/fuzz/corpus/*.safetensors "$root"/tests/data/*.safetensors "$corpus"/ 2>/dev/null || true
echo "run_fuzz: fuzzing safetensors::parse for ${secs}s (corpus $corpus)"
# shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
"$bin" "$corpus" -dict="$root/tools/fuzz/safetensors.dict" -max_total_time="$secs" -max_len=16384 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" ${FUZZ_ARGS:-} 2>&1 |
  tee "$out/last_run.log" |
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|stat::|ERROR|SUMMARY|FINDING|crash-|Test unit written"
rc="${PIPESTATUS[0]}"
if [ "$rc" -ne 0 ]; then
  echo "run_fuzz: FINDING (exit $rc): see $out/last_run.log and the crash-* input in $out" >&2
  exit 1
fi
echo "run_fuzz: no finding"
