// optim::SGD: torch.optim.SGD's update (momentum, dampening, weight decay, Nesterov) as composite
// tensor ops on the parameter's device; low-precision parameters update through float32
// (Note [low-precision optimizer state]).
#include "tessera/nn/optim/sgd.h"

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), {}, -1, -1}}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer("SGD", std::move(groups), options.lr, options.weight_decay), options_(options) {
  TESSERA_CHECK(options.momentum >= 0, ValueError, "SGD: invalid momentum {} (must be >= 0)", options.momentum);
  TESSERA_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0), ValueError,
                "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum {}, dampening {})",
                options.momentum, options.dampening);
}

std::vector<std::string> SGD::state_keys() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for_each_param_with_grad([&](ParamGroup& group, Tensor& p, size_t flat) {
    const Tensor& grad = p.grad();
    TESSERA_CHECK(grad.device() == p.device(), DeviceError,
                  "SGD.step: the gradient of {} is on {} but the parameter is on {}; move both to one device",
                  describe_param(flat), grad.device().str(), p.device().str());
    TESSERA_CHECK(grad.sizes().equals(p.sizes()), ShapeError,
                  "SGD.step: the gradient of {} has shape {} but the parameter has shape {}", describe_param(flat),
                  shape_str(grad.sizes()), shape_str(p.sizes()));
    const DType sd = state_dtype(p);
    const bool low = sd != p.dtype();
    Tensor pw = low ? raw::to(p, p.device(), sd) : p;
    Tensor d = raw::to(grad, p.device(), sd);
    if (group.weight_decay != 0) d = d.add(pw, group.weight_decay);
    if (o.momentum != 0) {
      auto& st = mutable_state(flat);
      auto it = st.find("momentum_buffer");
      if (it == st.end()) {
        it = st.emplace("momentum_buffer", raw::clone(d).contiguous()).first;
      } else {
        it->second.mul_(o.momentum).add_(d, 1.0 - o.dampening);
      }
      d = o.nesterov ? d.add(it->second, o.momentum) : it->second;
    }
    pw.add_(d, -group.lr);
    if (low) p.copy_(pw);
  });
  ++step_count_;
}

}  // namespace tessera::optim
