#!/usr/bin/env bash
# Installs what tessera needs to build and test on Debian 12 (apt), then configures ./build.
# Idempotent: packages already present are skipped. The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL)
# is used when it is installed under /usr/local/cuda; it is never required.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(meson ninja-build g++ pkg-config libfmt-dev libgtest-dev libopenblas-dev libmpich-dev mpich
      nlohmann-json3-dev libcli11-dev libpng-dev)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
builddir="${BUILD_DIR:-build}"
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" ${MESON_ARGS:-}
fi
ninja -C "$builddir"
