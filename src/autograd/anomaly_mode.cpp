// Anomaly detection: forward call stacks for nodes, NaN checks on gradients, error context.
#include "tessera/autograd/anomaly_mode.h"

#include <cxxabi.h>
#include <execinfo.h>

#include <cmath>
#include <cstdlib>

#include "tessera/autograd/node.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

namespace {
// "lib.so(_ZN7tessera3expEv+0x12) [0x..]" -> "tessera::exp()"
std::string demangle_frame(const char* frame) {
  std::string s(frame);
  size_t open = s.find('('), plus = s.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus == open + 1) return s;
  std::string mangled = s.substr(open + 1, plus - open - 1);
  int status = 0;
  char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? std::string(d) : mangled;
  std::free(d);
  return out + "  [" + s.substr(0, open) + "]";
}
}  // namespace

std::string current_backtrace(int skip) {
  void* frames[64];
  int n = backtrace(frames, 64);
  char** symbols = backtrace_symbols(frames, n);
  std::string out;
  for (int i = skip; i < n; ++i) {
    out += "  #" + std::to_string(i - skip) + " " + (symbols ? demangle_frame(symbols[i]) : std::string("?")) + "\n";
  }
  std::free(symbols);
  return out;
}

void rethrow_with_node_context(std::exception_ptr error, const Node& node) {
  std::string ctx = fmt::format("\n[autograd] the error above was raised while running {} (the backward of a "
                                "forward op; its name says which one)",
                                node.name());
  if (!node.forward_trace().empty())
    ctx += fmt::format(".\nForward call that created {} (anomaly mode):\n{}", node.name(), node.forward_trace());
  else if (!AnomalyMode::is_enabled())
    ctx += ". Enable tessera::autograd::DetectAnomalyGuard during the forward pass to record where it was created.";
  try {
    std::rethrow_exception(error);
  } catch (const ShapeError& e) {
    throw ShapeError(e.what() + ctx);
  } catch (const DTypeError& e) {
    throw DTypeError(e.what() + ctx);
  } catch (const DeviceError& e) {
    throw DeviceError(e.what() + ctx);
  } catch (const ValueError& e) {
    throw ValueError(e.what() + ctx);
  } catch (const IndexError& e) {
    throw IndexError(e.what() + ctx);
  } catch (const RuntimeError& e) {
    throw RuntimeError(e.what() + ctx);
  } catch (const Error& e) {
    throw Error(e.what() + ctx);
  } catch (const std::exception& e) {
    throw Error(e.what() + ctx);
  }
}

void check_for_nan(const Node& node, const std::vector<Tensor>& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined() || !g.is_floating_point() || g.numel() == 0) continue;
    Tensor h = raw::contiguous(raw::to(g, Device::cpu(), DType::Float64));
    const double* p = h.data_ptr<double>();
    bool nan = false;
    for (int64_t k = 0; k < h.numel() && !nan; ++k) nan = std::isnan(p[k]);
    if (!nan) continue;
    std::string msg = fmt::format("Function '{}' returned nan values in its {}th output.", node.name(), i);
    if (!node.forward_trace().empty())
      msg += fmt::format("\nForward call that created {} (anomaly mode):\n{}", node.name(), node.forward_trace());
    throw ValueError(msg);
  }
}

}  // namespace tessera::autograd
