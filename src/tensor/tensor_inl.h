// Inline template members of Tensor (typed data access). Included at the end of tensor.h.
#pragma once

namespace tessera {

template <typename T>
T* Tensor::data_ptr() const {
  TESSERA_CHECK(defined(), ValueError, "data_ptr: called on an undefined tensor");
  TESSERA_CHECK(dtype_of<std::remove_const_t<T>>::value == dtype(), DTypeError,
                "data_ptr: expected a tensor of dtype {} but it has dtype {}",
                dtype_name(dtype_of<std::remove_const_t<T>>::value), dtype_name(dtype()));
  return static_cast<T*>(data_ptr());
}

template <typename T>
T Tensor::item() const {
  return item().to<T>();
}

}  // namespace tessera
