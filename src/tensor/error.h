// tessera::Error and its subclasses, plus the TESSERA_CHECK macros every op uses to validate
// user input. See Note [errors name the op]: messages say which op, what it got, what it wanted.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tessera {

// Note [errors name the op]
// Every error raised for bad user input is a tessera::Error (or subclass) whose message starts
// with the op name ("matmul: ...") and names shapes/dtypes/devices involved and what was
// expected. Never assert() or exit() on user input.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};
class ShapeError : public Error {
  using Error::Error;
};
class DTypeError : public Error {
  using Error::Error;
};
class DeviceError : public Error {
  using Error::Error;
};
class ValueError : public Error {
  using Error::Error;
};
class IndexError : public Error {
  using Error::Error;
};
// Raised by backends for failures of the underlying runtime (CUDA, cuBLAS, NCCL, MPI, ...).
class RuntimeError : public Error {
  using Error::Error;
};

}  // namespace tessera

// TESSERA_CHECK(cond, ErrorClass, "fmt {}", args...) throws ErrorClass(formatted) when !cond.
#define TESSERA_CHECK(cond, ErrorClass, ...)            \
  do {                                                   \
    if (!(cond)) throw ErrorClass(fmt::format(__VA_ARGS__)); \
  } while (0)

// Internal invariant (not user input): names the file and line.
#define TESSERA_INTERNAL_ASSERT(cond, ...)                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::tessera::Error(fmt::format("tessera internal error at {}:{}: {} ({})", \
                                         __FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__))); \
  } while (0)
