#!/usr/bin/env bash
# Sets up and builds (tools/setup.sh), then runs every test suite registered with meson:
#   unit     the GoogleTest binaries (CPU)
#   install  tools/check_install.sh: an installed tessera works for another project
#   gpu/mpi/e2e as they appear (a gpu binary on a machine without a GPU exits 77 and is counted
#   as Skipped: Note [skipped test binaries exit 77] in tests/common/test_main.cpp).
# Extra arguments go to `meson test` (e.g. --suite unit). The output ends with meson's summary
# (Ok / Fail / Skipped ... counts); the exit status is non-zero when a test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
builddir="${BUILD_DIR:-build}"
exec meson test -C "$builddir" --print-errorlogs --num-processes "$(nproc)" "$@"
