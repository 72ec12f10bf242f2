// Graph-building helpers: gradient edges, grad accumulators, set_history, view bases, in-place
// checks and history rebase (Note [view tracking], Note [view + inplace rebase]).
#include "tessera/autograd/variable.h"

#include "tessera/autograd/accumulate_grad.h"
#include "tessera/autograd/view_inplace.h"
#include "tessera/tensor/error.h"

namespace tessera::autograd {

AutogradMeta& get_autograd_meta(const Tensor& t) {
  TESSERA_CHECK(t.defined(), ValueError, "autograd: undefined tensor");
  auto& m = t.impl()->autograd_meta;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}

namespace {

// Note [tensor hooks and in-place]: hooks registered on a tensor stay with the grad_fn it had
// then (they see the gradient w.r.t. the value before a later in-place op, like PyTorch); a
// retain_grad hook moves to the new grad_fn.
void move_retains_grad(AutogradMeta& m, const std::shared_ptr<Node>& old_fn, uint32_t old_nr) {
  if (!m.retains_grad || !old_fn || !m.grad_fn || old_fn == m.grad_fn) return;
  std::function<void(const Tensor&)> hook;
  if (old_fn->remove_retains_grad_hook(old_nr, &hook)) m.grad_fn->set_retains_grad_hook(m.output_nr, std::move(hook));
}

void regenerate_view_grad_fn(const Tensor& view, AutogradMeta& m) {
  m.attr_version = view._version();
  const Tensor& base = m.base;
  if (!requires_grad(base)) return;
  auto old_fn = m.grad_fn;
  uint32_t old_nr = m.output_nr;
  auto node = std::make_shared<AsStridedBackward>(ViewFrame(base, view));
  node->add_next_edge(gradient_edge(base));
  m.grad_fn = node;
  m.output_nr = node->add_input_metadata(view);
  m.hooks = nullptr;
  move_retains_grad(m, old_fn, old_nr);
}

}  // namespace

const std::shared_ptr<Node>& grad_fn_of(const Tensor& t) {
  static const std::shared_ptr<Node> none;
  AutogradMeta* m = autograd_meta_or_null(t);
  if (!m) return none;
  if (m->is_view && t._version() != m->attr_version) regenerate_view_grad_fn(t, *m);
  return m->grad_fn;
}

bool compute_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (requires_grad(t)) return true;
  return false;
}

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  AutogradMeta& m = get_autograd_meta(leaf);
  if (auto acc = m.grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<AccumulateGrad>(leaf);
  m.grad_accumulator = acc;
  return acc;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta* m = autograd_meta_or_null(t);
  if (!m) return Edge();
  const auto& fn = m->is_view ? grad_fn_of(t) : m->grad_fn;
  if (fn) return Edge(fn, m->output_nr);
  if (m->requires_grad) return Edge(grad_accumulator(t), 0);
  return Edge();
}

edge_list collect_next_edges(const std::vector<Tensor>& inputs) {
  edge_list edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(gradient_edge(t));
  return edges;
}

void set_history(const Tensor& out, const std::shared_ptr<Node>& node) {
  AutogradMeta& m = get_autograd_meta(out);
  m.grad_fn = node;
  m.output_nr = node->add_input_metadata(out);
  if (m.is_view) m.attr_version = out._version();
}

void as_view(const Tensor& base, const Tensor& view) {
  if (!GradMode::is_enabled()) return;
  AutogradMeta& m = get_autograd_meta(view);
  m.is_view = true;
  const AutogradMeta* bm = autograd_meta_or_null(base);
  m.base = bm && bm->is_view ? bm->base : base;
  m.attr_version = view._version();
}

void check_inplace(const Tensor& self) {
  if (!GradMode::is_enabled()) return;
  AutogradMeta* m = autograd_meta_or_null(self);
  if (!m) return;
  if (m->is_view) {
    AutogradMeta* bm = autograd_meta_or_null(m->base);
    TESSERA_CHECK(!(bm && bm->requires_grad && !bm->grad_fn), ValueError,
                  "a view of a leaf Variable that requires grad is being used in an in-place operation.");
  }
  TESSERA_CHECK(!(m->requires_grad && !grad_fn_of(self)), ValueError,
                "a leaf Variable that requires grad is being used in an in-place operation.");
}

void rebase_history(const Tensor& self, const std::shared_ptr<Node>& node) {
  AutogradMeta& m = get_autograd_meta(self);
  if (m.is_view) {
    // CopySlices writes the view's gradient region once per element: overlapping views cannot be
    // differentiated through (most raw in-place ops reject them before getting here).
    for (size_t d = 0; d < size_t(self.dim()); ++d) {
      TESSERA_CHECK(self.stride(d) != 0 || self.size(d) <= 1, ValueError,
                    "unsupported operation: more than one element of the written-to tensor refers to a single "
                    "memory location. Please clone() the tensor before performing the operation.");
    }
    const Tensor& base = m.base;
    ViewFrame frame(base, self);
    node->add_input_metadata(self);
    auto copy_slices = std::make_shared<CopySlices>(base, frame, node);
    AutogradMeta& bm = get_autograd_meta(base);
    auto old_fn = bm.grad_fn;
    uint32_t old_nr = bm.output_nr;
    bm.grad_fn = copy_slices;
    bm.output_nr = copy_slices->add_input_metadata(base);
    bm.hooks = nullptr;
    move_retains_grad(bm, old_fn, old_nr);
    regenerate_view_grad_fn(self, m);  // the view now reads from the new base history
    return;
  }
  auto old_fn = m.grad_fn;
  uint32_t old_nr = m.output_nr;
  m.grad_fn = node;
  m.output_nr = node->add_input_metadata(self);
  m.hooks = nullptr;
  move_retains_grad(m, old_fn, old_nr);
}

}  // namespace tessera::autograd
