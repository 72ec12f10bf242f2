// Type promotion between dtypes (torch.promote_types).
#include "tessera/tensor/dtype.h"

namespace tessera {

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType t) {  // category: bool 0, int 1, float 2
    return t == DType::Bool ? 0 : is_integral(t) ? 1 : 2;
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra > rb ? a : b;
  if (ra == 1) return (a == DType::Int64 || b == DType::Int64) ? DType::Int64 : DType::Int32;
  // both floating, different
  if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
  return DType::Float32;  // float32 with a 16-bit type, or bfloat16 with float16
}

}  // namespace tessera
