#!/usr/bin/env bash
# Builds what the GPU machine runs and packs it into build-gpu-bundle/ (run HERE, on the build
# machine): a release build with the CUDA backend for sm_90 in build-gpu/, then the stripped
# library, test_cuda, tessera-gpu-bench, test_tensor, the tessera CLI (a CUDA training smoke run),
# bench_gpt2_step (the GPT-2-124M training step; its PyTorch side, tools/bench/gpt2_torch.py, runs from
# the repo root there) and
# the small non-CUDA shared libraries they need (fmt, gomp, png; plus libcudart as a fallback) in build-gpu-bundle/{bin,lib}. The bundle is what
# the device tool carries (it must stay under 64 MiB); tools/gpu_check.sh runs it there.
# Usage: tools/gpu_pack.sh [gpu_archs (default 90)]
set -euo pipefail
cd "$(dirname "$0")/.."
archs="${1:-90}"
export PATH="/usr/local/cuda/bin:$PATH"
if [ ! -f build-gpu/build.ninja ]; then
  meson setup build-gpu -Dcuda=enabled -Dbuildtype=release -Dgpu_archs="$archs"
else
  meson configure build-gpu -Dgpu_archs="$archs" >/dev/null
fi
# Meson 1.0 does not record header dependencies of .cu files (no nvcc depfile), so an edited
# .cuh/.h would not rebuild the kernels: touch them (ccache makes an unchanged rebuild cheap).
touch src/cuda/kernels/*.cu
ninja -C build-gpu tests/cuda/test_cuda tools/tessera-gpu-bench tests/tensor/test_tensor tools/tessera \
  tools/bench/bench_gpt2_step
rm -rf build-gpu-bundle
mkdir -p build-gpu-bundle/bin build-gpu-bundle/lib
cp -L build-gpu/libtessera.so.0 build-gpu-bundle/lib/
cp build-gpu/tests/cuda/test_cuda build-gpu/tools/tessera-gpu-bench build-gpu/tests/tensor/test_tensor \
   build-gpu/tools/tessera build-gpu/tools/bench/bench_gpt2_step build-gpu-bundle/bin/
# Small shared libraries the GPU machine may lack (found via ldconfig / the CUDA toolkit here).
for so in libfmt.so.9 libgomp.so.1 libpng16.so.16; do
  # (no early exit in awk: ldconfig would die of SIGPIPE, which pipefail turns into a failed script)
  p="$(ldconfig -p | awk -v n="$so" '$1 == n && /x86-64/ && !found {print $NF; found = 1}')"
  if [ -n "$p" ]; then cp -L "$p" build-gpu-bundle/lib/; else echo "gpu_pack: warning: $so not found here"; fi
done
mkdir -p build-gpu-bundle/lib/fallback
cp -L /usr/local/cuda/lib64/libcudart.so.13 build-gpu-bundle/lib/fallback/ 2>/dev/null || true
strip --strip-unneeded build-gpu-bundle/lib/*.so* build-gpu-bundle/bin/* 2>/dev/null || true
git rev-parse HEAD > build-gpu-bundle/COMMIT 2>/dev/null || true
echo "gpu_archs=$archs" >> build-gpu-bundle/COMMIT
du -sh build-gpu-bundle
size=$(du -sm build-gpu-bundle | cut -f1)
if [ "$size" -ge 60 ]; then echo "gpu_pack: bundle is ${size} MiB, too big to carry (limit 64 MiB)"; exit 1; fi
echo "gpu_pack: carry build-gpu-bundle and run tools/gpu_check.sh on the GPU machine"
