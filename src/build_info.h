// What this build of libtessera contains: version and the optional features found when it was
// configured (meson features cuda/cudnn/nccl/mpi, the CPU BLAS). Filled in by meson from
// src/build_info.cpp.in; `tessera info` prints it.
#pragma once

#include <string>

namespace tessera {

struct BuildInfo {
  std::string version;      // project version, e.g. "0.1.0"
  std::string build_type;   // meson buildtype: release, debug, ...
  std::string compiler;     // C++ compiler id and version
  bool cuda = false;        // CUDA backend compiled in (it still needs a GPU at run time)
  std::string cuda_version; // nvcc version when cuda, else ""
  std::string gpu_archs;    // SM architectures compiled for when cuda, e.g. "80;90"
  bool cudnn = false;
  bool nccl = false;
  bool mpi = false;
  std::string blas;         // "openblas" or "none" (built-in GEMM kernel)
};

// The build's description (a static object; never throws).
const BuildInfo& build_info();

}  // namespace tessera
