// Inline template members of Tensor (typed data access). Included at the end of tensor.h.
#pragma once

#include <type_traits>

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

template <typename F>
HookHandle Tensor::register_hook(F&& hook) const {
  using R = std::invoke_result_t<F, const Tensor&>;
  if constexpr (std::is_void_v<R>) {
    return _register_hook([h = std::forward<F>(hook)](const Tensor& g) {
      h(g);
      return Tensor();
    });
  } else {
    static_assert(std::is_convertible_v<R, Tensor>, "register_hook: the hook must return Tensor or void");
    return _register_hook(std::function<Tensor(const Tensor&)>(std::forward<F>(hook)));
  }
}

}  // namespace tessera
