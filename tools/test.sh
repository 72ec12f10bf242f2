#!/usr/bin/env bash
# Sets up (tools/setup.sh), builds, and runs every test suite that this machine can run:
# unit always; gpu reports its tests as skipped (with the reason) when there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
builddir="${BUILD_DIR:-build}"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
