// optim::SGD: stochastic gradient descent with momentum, dampening, (coupled) weight decay and
// Nesterov momentum, with torch.optim.SGD's exact semantics. Composite tensor ops, so it runs on the
// parameter's own device.
#pragma once

#include "tessera/nn/optim/optimizer.h"

namespace tessera::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

// Per parameter p with gradient g (momentum buffer b):
//   d = g + wd * p
//   if momentum != 0: b = d on the first update, else b = momentum * b + (1 - dampening) * d;
//                     d = nesterov ? d + momentum * b : b
//   p -= lr * d
// State key: "momentum_buffer" (only when momentum != 0).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<ParamGroup> groups, SGDOptions options);

  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_keys() const override;

 private:
  SGDOptions options_;
};

}  // namespace tessera::optim
