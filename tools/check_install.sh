#!/usr/bin/env bash
# Checks that an installed tessera is usable by another project (run by `meson test --suite
# install`, hence by tools/test.sh and CI). Installs the build directory (default: build) into a
# temporary DESTDIR, then:
#   - `pkg-config --cflags --libs tessera` works (tessera.pc is relocatable);
#   - every installed header compiles on its own with those flags (except *_inl.h, the
#     fragments that another header includes at its end);
#   - examples/basic builds with a plain c++ command line using pkg-config, and runs;
#   - examples/basic builds as a meson project finding tessera through pkg-config only
#     (--wrap-mode=nofallback), and runs;
#   - the installed `tessera` CLI runs.
# With --subproject it also builds examples/basic with tessera as a meson subproject (a fresh
# build of the library, so it is not part of the default check).
# Usage: tools/check_install.sh [--subproject] [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
subproject=0
if [ "${1:-}" = "--subproject" ]; then subproject=1; shift; fi
builddir="$(cd "${1:-$root/build}" && pwd)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tessera-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
step() { echo "check_install: $*"; }

step "meson install --destdir $tmp/root"
meson install -C "$builddir" --destdir "$tmp/root" --quiet >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
pc="$(find "$tmp/root" -name tessera.pc -print -quit)"
[ -n "$pc" ] || { echo "check_install: no tessera.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"

flags="$(pkg-config --cflags --libs tessera)"
libdir="$(pkg-config --variable=libdir tessera)"
includedir="$(pkg-config --variable=includedir tessera)"
step "pkg-config --cflags --libs tessera: $flags"

step "each installed header compiles alone"
n=0
while IFS= read -r h; do
  echo "#include <$h>" | c++ -std=c++20 -fsyntax-only -x c++ - $(pkg-config --cflags tessera) ||
    { echo "check_install: <$h> does not compile on its own"; exit 1; }
  n=$((n + 1))
done < <(cd "$includedir" && find tessera -name '*.h' ! -name '*_inl.h' | sort)
step "$n headers OK"

step "examples/basic with c++ and pkg-config"
c++ -std=c++20 "$root/examples/basic/main.cpp" $flags -Wl,-rpath,"$libdir" -o "$tmp/basic-cxx"
"$tmp/basic-cxx" >/dev/null

step "examples/basic as a meson project (pkg-config, no fallback)"
meson setup "$tmp/example" "$root/examples/basic" --wrap-mode=nofallback >"$tmp/example-setup.log" 2>&1 ||
  { cat "$tmp/example-setup.log"; exit 1; }
ninja -C "$tmp/example" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/example/basic" >/dev/null

step "installed tessera CLI"
tessera_bin="$(find "$tmp/root" -path '*/bin/tessera' -print -quit)"
if [ -n "$tessera_bin" ]; then "$tessera_bin" version; else step "(not installed: tools=false)"; fi

if [ "$subproject" = 1 ]; then
  step "examples/basic with tessera as a meson subproject"
  cp -r "$root/examples/basic" "$tmp/sub"
  mkdir -p "$tmp/sub/subprojects/tessera"
  (cd "$root" && git ls-files -z | xargs -0 cp -P --parents -t "$tmp/sub/subprojects/tessera")
  env -u PKG_CONFIG_PATH meson setup "$tmp/sub/build" "$tmp/sub" --wrap-mode=forcefallback -Dtessera:cuda=disabled \
    >"$tmp/sub-setup.log" 2>&1 || { cat "$tmp/sub-setup.log"; exit 1; }
  ninja -C "$tmp/sub/build" >/dev/null
  "$tmp/sub/build/basic" >/dev/null
fi
step "OK"
