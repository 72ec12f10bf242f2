// optim::Optimizer: parameter groups, zero_grad, and the tensors-only state dict with validating
// load (Note [optimizer state dict]).
#include "tessera/nn/optim/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_set>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/raw.h"

namespace tessera::optim {

namespace {

bool parse_index(std::string_view s, size_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Tensor scalar_f64(double v) { return tessera::scalar_tensor(v, TensorOptions(kFloat64)); }
Tensor scalar_i64(int64_t v) { return tessera::scalar_tensor(v, TensorOptions(kInt64)); }

// The value of a 0-d tensor, with a message naming the key if it is not one.
double scalar_value(const std::string& op, const std::string& key, const Tensor& t) {
  TESSERA_CHECK(t.defined() && t.numel() == 1, ValueError, "{}: \"{}\" must be a 0-d tensor, got {}", op, key,
                t.defined() ? shape_str(t.sizes()) : std::string("an undefined tensor"));
  return t.item<double>();
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, double default_lr,
                     double default_weight_decay)
    : name_(std::move(name)), default_lr_(default_lr), default_weight_decay_(default_weight_decay) {
  TESSERA_CHECK(default_lr >= 0, ValueError, "{}: invalid learning rate {} (must be >= 0)", name_, default_lr);
  TESSERA_CHECK(default_weight_decay >= 0, ValueError, "{}: invalid weight_decay {} (must be >= 0)", name_,
                default_weight_decay);
  size_t total = 0;
  for (const auto& g : groups) total += g.params.size();
  TESSERA_CHECK(total > 0, ValueError, "{}: got an empty parameter list; pass at least one parameter", name_);
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::check_group(const ParamGroup& group, size_t gi) const {
  TESSERA_CHECK(group.names.empty() || group.names.size() == group.params.size(), ValueError,
                "{}: param group {} has {} parameters but {} names (give one name per parameter or none)", name_,
                gi, group.params.size(), group.names.size());
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    std::string what = group.names.empty() ? fmt::format("parameter {} of group {}", i, gi)
                                           : fmt::format("parameter \"{}\"", group.names[i]);
    TESSERA_CHECK(p.defined(), ValueError, "{}: {} is an undefined tensor", name_, what);
    TESSERA_CHECK(p.is_floating_point(), DTypeError,
                  "{}: {} has dtype {}; only floating-point tensors can be optimized", name_, what,
                  dtype_name(p.dtype()));
    TESSERA_CHECK(p.is_leaf(), ValueError,
                  "{}: {} is not a leaf tensor; optimize the leaf (e.g. the module's parameter), not a result "
                  "computed from it",
                  name_, what);
    TESSERA_CHECK(seen.insert(p.impl()).second, ValueError,
                  "{}: {} appears more than once (some parameters appear in more than one parameter group)", name_,
                  what);
  }
}

void Optimizer::add_param_group(ParamGroup group) {
  check_group(group, groups_.size());
  if (group.lr < 0) group.lr = default_lr_;
  if (group.weight_decay < 0) group.weight_decay = default_weight_decay_;
  state_.resize(state_.size() + group.params.size());
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& g : groups_)
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        NoGradGuard guard;
        p.mutable_grad().zero_();
      }
    }
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

const std::map<std::string, Tensor>& Optimizer::state(size_t flat_index) const {
  TESSERA_CHECK(flat_index < state_.size(), IndexError, "{}.state: index {} out of range for {} parameters", name_,
                flat_index, state_.size());
  return state_[flat_index];
}

std::map<std::string, Tensor>& Optimizer::mutable_state(size_t flat_index) { return state_.at(flat_index); }

DType Optimizer::state_dtype(const Tensor& param) {
  DType d = param.dtype();
  return (d == kBFloat16 || d == kFloat16) ? kFloat32 : d;
}

std::string Optimizer::describe_param(size_t flat_index) const {
  size_t k = flat_index;
  for (const auto& g : groups_) {
    if (k < g.params.size()) {
      if (!g.names.empty()) return fmt::format("parameter {} (\"{}\")", flat_index, g.names[k]);
      return fmt::format("parameter {}", flat_index);
    }
    k -= g.params.size();
  }
  return fmt::format("parameter {}", flat_index);
}

nn::StateDict Optimizer::state_dict() const {
  nn::StateDict out;
  out.emplace_back("step", scalar_i64(step_count_));
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.emplace_back(fmt::format("param_groups.{}.lr", g), scalar_f64(groups_[g].lr));
    out.emplace_back(fmt::format("param_groups.{}.num_params", g), scalar_i64(int64_t(groups_[g].params.size())));
    out.emplace_back(fmt::format("param_groups.{}.weight_decay", g), scalar_f64(groups_[g].weight_decay));
  }
  for (size_t i = 0; i < state_.size(); ++i)
    for (const auto& [key, t] : state_[i]) out.emplace_back(fmt::format("state.{}.{}", i, key), t.detach());
  return out;
}

void Optimizer::load_state_dict(const nn::StateDict& sd) {
  const std::string op = name_ + ".load_state_dict";
  const std::vector<Tensor> params = parameters();
  const std::vector<std::string> keys = state_keys();
  const std::set<std::string> key_set(keys.begin(), keys.end());
  auto optional_key = [&](const Tensor& p, const std::string& field) {
    const auto opt = optional_state_keys(p);
    return std::find(opt.begin(), opt.end(), field) != opt.end();
  };

  // ---- parse and validate everything before changing anything ----
  std::optional<int64_t> step;
  std::map<size_t, std::map<std::string, double>> group_vals;
  std::map<size_t, std::map<std::string, Tensor>> new_state;
  struct Entry {
    std::string key;
    size_t index;
    std::string field;
    Tensor t;
  };
  std::vector<Entry> state_entries;
  std::vector<std::string> unexpected;
  for (const auto& [key, t] : sd) {
    if (key == "step") {
      step = int64_t(scalar_value(op, key, t));
      continue;
    }
    if (key.rfind("param_groups.", 0) == 0) {
      std::string rest = key.substr(13);
      size_t dot = rest.find('.');
      size_t g = 0;
      std::string field = dot == std::string::npos ? "" : rest.substr(dot + 1);
      if (dot != std::string::npos && parse_index(std::string_view(rest).substr(0, dot), g) &&
          (field == "lr" || field == "weight_decay" || field == "num_params")) {
        group_vals[g][field] = scalar_value(op, key, t);
        continue;
      }
    } else if (key.rfind("state.", 0) == 0) {
      std::string rest = key.substr(6);
      size_t dot = rest.find('.');
      size_t i = 0;
      if (dot != std::string::npos && parse_index(std::string_view(rest).substr(0, dot), i) &&
          (key_set.count(rest.substr(dot + 1)) ||
           (i < params.size() && optional_key(params[i], rest.substr(dot + 1))))) {
        state_entries.push_back({key, i, rest.substr(dot + 1), t});
        continue;
      }
    }
    unexpected.push_back(key);
  }
  TESSERA_CHECK(unexpected.empty(), ValueError, "{}: unexpected key(s) {} (a {} state dict has \"step\", "
                "\"param_groups.<g>.{{lr,weight_decay,num_params}}\" and \"state.<i>.{{{}}}\")",
                op, fmt::format("\"{}\"", fmt::join(unexpected, "\", \"")), name_, fmt::join(keys, ","));
  TESSERA_CHECK(step.has_value(), ValueError, "{}: missing key \"step\"", op);
  TESSERA_CHECK(group_vals.size() == groups_.size() && (group_vals.empty() || group_vals.rbegin()->first + 1 ==
                                                                                 groups_.size()),
                ValueError, "{}: the state dict has {} parameter group(s) but this optimizer has {}", op,
                group_vals.size(), groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto& v = group_vals[g];
    for (const char* f : {"lr", "weight_decay", "num_params"})
      TESSERA_CHECK(v.count(f), ValueError, "{}: missing key \"param_groups.{}.{}\"", op, g, f);
    TESSERA_CHECK(int64_t(v["num_params"]) == int64_t(groups_[g].params.size()), ValueError,
                  "{}: param group {} has {} parameters in the state dict but {} in this optimizer", op, g,
                  int64_t(v["num_params"]), groups_[g].params.size());
  }
  for (const auto& [key, i, field, t] : state_entries) {
    TESSERA_CHECK(i < params.size(), ValueError,
                  "{}: \"{}\" refers to parameter {} but this optimizer has {} parameters (the state dict comes "
                  "from an optimizer over different parameters)",
                  op, key, i, params.size());
    TESSERA_CHECK(t.defined(), ValueError, "{}: \"{}\" is an undefined tensor", op, key);
    if (field == "step") {
      TESSERA_CHECK(t.numel() == 1, ShapeError, "{}: \"{}\" must be a 0-d tensor, got shape {}", op, key,
                    shape_str(t.sizes()));
    } else {
      TESSERA_CHECK(t.sizes().equals(params[i].sizes()), ShapeError,
                    "{}: \"{}\" has shape {} but {} has shape {} (the state dict comes from a different model or "
                    "parameter order)",
                    op, key, shape_str(t.sizes()), describe_param(i), shape_str(params[i].sizes()));
      TESSERA_CHECK(t.is_floating_point(), DTypeError, "{}: \"{}\" has dtype {}; expected a floating dtype", op,
                    key, dtype_name(t.dtype()));
    }
    new_state[i][field] = t;
  }
  for (const auto& [i, st] : new_state) {
    std::vector<std::string> missing;
    for (const auto& k : keys)
      if (!st.count(k)) missing.push_back(k);
    TESSERA_CHECK(missing.empty(), ValueError, "{}: the state of {} is incomplete: missing \"state.{}.{}\"", op,
                  describe_param(i), i, fmt::join(missing, "\", \"state." + std::to_string(i) + "."));
  }

  // ---- apply ----
  NoGradGuard no_grad;
  step_count_ = *step;
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = group_vals[g]["lr"];
    groups_[g].weight_decay = group_vals[g]["weight_decay"];
  }
  for (auto& s : state_) s.clear();
  for (auto& [i, st] : new_state) {
    for (auto& [field, t] : st) {
      if (field == "step") {
        state_[i][field] = scalar_i64(int64_t(t.item<double>()));
      } else {
        state_[i][field] = raw::to(t, params[i].device(), state_dtype(params[i]), /*copy=*/true).contiguous();
      }
    }
  }
}

}  // namespace tessera::optim
