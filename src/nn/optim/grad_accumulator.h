// optim::GradAccumulator: gradient accumulation over micro-batches. Backward of loss_i / n over n
// micro-batches sums to the gradient of the mean loss over the full batch (for a loss that is a
// mean over equally sized micro-batches), so one optimizer step after n micro-batches equals one
// step on the full batch. Usage:
//
//   optim::GradAccumulator acc(n);
//   for (auto& mb : micro_batches) {
//     acc.scale(model.loss(mb)).backward();   // or scaler.scale(acc.scale(loss)).backward()
//     if (acc.boundary()) { optimizer.step(); optimizer.zero_grad(); scheduler.step(); }
//   }
#pragma once

#include <cstdint>

#include "tessera/tensor/error.h"
#include "tessera/tensor/tensor.h"

namespace tessera::optim {

class GradAccumulator {
 public:
  explicit GradAccumulator(int64_t micro_batches) : n_(micro_batches) {
    TESSERA_CHECK(micro_batches >= 1, ValueError, "GradAccumulator: micro_batches must be >= 1, got {}",
                  micro_batches);
  }
  // loss / n (differentiable); counts one micro-batch.
  Tensor scale(const Tensor& loss) {
    ++seen_;
    return n_ == 1 ? loss : loss / double(n_);
  }
  // True once per n micro-batches (after the n-th scale()), when the optimizer should step.
  bool boundary() {
    if (seen_ < n_) return false;
    seen_ = 0;
    return true;
  }
  int64_t micro_batches() const { return n_; }
  // Micro-batches seen since the last boundary (saved with a trainer checkpoint mid-accumulation).
  int64_t pending() const { return seen_; }
  void set_pending(int64_t pending) { seen_ = pending; }

 private:
  int64_t n_;
  int64_t seen_ = 0;
};

}  // namespace tessera::optim
