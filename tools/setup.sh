#!/usr/bin/env bash
# Installs what tessera needs to build and test on Debian 12 (apt), then configures and builds
# ./build (or $BUILD_DIR). Idempotent: packages already installed are skipped, an existing build
# directory is reused (ninja rebuilds what changed). Extra meson options: MESON_ARGS="-Dcuda=disabled".
#
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL) is used when it is installed under /usr/local/cuda
# (or nvcc is on PATH); it is never required, and no GPU is needed to compile the CUDA code.
set -euo pipefail
cd "$(dirname "$0")/.."

# Required: compiler and build tools, fmt, GoogleTest, OpenMP (with g++), OpenBLAS headers.
# Optional but installed so every feature builds: MPICH (multi-process), nlohmann-json and CLI11
# (the tessera CLI and tessera-bench; nlohmann-json also parses checkpoint headers), libpng (image
# datasets), clang + libclang-rt-dev (libFuzzer and sanitizers for the 'fuzz' test suite,
# tools/fuzz/run_fuzz.sh). README.md says why each is used.
need=(meson ninja-build g++ pkg-config libfmt-dev libgtest-dev libopenblas-dev
      libmpich-dev mpich nlohmann-json3-dev libcli11-dev libpng-dev clang libclang-rt-dev)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo (missing: ${missing[*]})" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

builddir="${BUILD_DIR:-build}"
if [ ! -f "$builddir/build.ninja" ]; then
  # shellcheck disable=SC2086  # MESON_ARGS is a list of options
  meson setup "$builddir" ${MESON_ARGS:-}
fi
ninja -C "$builddir"
