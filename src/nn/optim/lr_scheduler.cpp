// optim::LRScheduler (Note [lr scheduler steps]), WarmupCosineLR and ConstantLR.
#include "tessera/nn/optim/lr_scheduler.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::optim {

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(optimizer), name_(std::move(name)) {
  for (const auto& g : optimizer_.param_groups()) base_lrs_.push_back(g.lr);
}

void LRScheduler::initialize() {
  last_step_ = 0;
  apply();
}

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  TESSERA_CHECK(groups.size() == base_lrs_.size(), ValueError,
                "{}: the optimizer has {} param groups but the scheduler was made for {}; create the scheduler after "
                "adding every group",
                name_, groups.size(), base_lrs_.size());
  const double m = multiplier(last_step_);
  last_lr_.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    groups[g].lr = base_lrs_[g] * m;
    last_lr_.push_back(groups[g].lr);
  }
}

void LRScheduler::step() {
  ++last_step_;
  apply();
}

nn::StateDict LRScheduler::state_dict() const {
  nn::StateDict out;
  out.emplace_back("last_step", tessera::scalar_tensor(last_step_, TensorOptions(kInt64)));
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    out.emplace_back(fmt::format("base_lrs.{}", g), tessera::scalar_tensor(base_lrs_[g], TensorOptions(kFloat64)));
  return out;
}

void LRScheduler::load_state_dict(const nn::StateDict& state) {
  const std::string op = name_ + ".load_state_dict";
  std::map<std::string, Tensor> by_key(state.begin(), state.end());
  TESSERA_CHECK(by_key.size() == base_lrs_.size() + 1, ValueError,
                "{}: expected {} keys (\"last_step\" and \"base_lrs.0..{}\") but got {}", op, base_lrs_.size() + 1,
                int64_t(base_lrs_.size()) - 1, by_key.size());
  auto get = [&](const std::string& key) {
    auto it = by_key.find(key);
    TESSERA_CHECK(it != by_key.end(), ValueError, "{}: missing key \"{}\"", op, key);
    TESSERA_CHECK(it->second.defined() && it->second.numel() == 1, ValueError, "{}: \"{}\" must be a 0-d tensor",
                  op, key);
    return it->second.item<double>();
  };
  const int64_t last = int64_t(get("last_step"));
  std::vector<double> base;
  for (size_t g = 0; g < base_lrs_.size(); ++g) base.push_back(get(fmt::format("base_lrs.{}", g)));
  TESSERA_CHECK(last >= 0, ValueError, "{}: last_step must be >= 0, got {}", op, last);
  last_step_ = last;
  base_lrs_ = base;
  apply();
}

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr_ratio)
    : LRScheduler(optimizer, "WarmupCosineLR"), warmup_(warmup_steps), total_(total_steps), min_ratio_(min_lr_ratio) {
  TESSERA_CHECK(warmup_steps >= 0 && total_steps > 0 && warmup_steps <= total_steps, ValueError,
                "WarmupCosineLR: need 0 <= warmup_steps <= total_steps and total_steps > 0 (got warmup_steps={}, "
                "total_steps={})",
                warmup_steps, total_steps);
  TESSERA_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, ValueError,
                "WarmupCosineLR: min_lr_ratio must be in [0, 1], got {}", min_lr_ratio);
  initialize();
}

double WarmupCosineLR::multiplier(int64_t s) const {
  if (s < warmup_) return double(s) / double(warmup_);
  if (s >= total_) return min_ratio_;
  const double progress = double(s - warmup_) / double(total_ - warmup_);
  return min_ratio_ + (1.0 - min_ratio_) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler(optimizer, "ConstantLR"), factor_(factor), total_iters_(total_iters) {
  TESSERA_CHECK(factor >= 0 && factor <= 1, ValueError,
                "ConstantLR: factor must be in [0, 1] (as PyTorch), got {}", factor);
  TESSERA_CHECK(total_iters >= 0, ValueError, "ConstantLR: total_iters must be >= 0, got {}", total_iters);
  initialize();
}

}  // namespace tessera::optim
