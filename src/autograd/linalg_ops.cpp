// Differentiable matrix products (Tensor::matmul/mm/bmm and the free functions) and their
// derivatives. matmul's backward reduces every case (1-D operands, broadcast batch dims) to the
// N-D one: unsqueeze 1-D operands, grad_a = g @ b^T and grad_b = a^T @ g summed down to the
// broadcast operand's shape.
#include "tessera/autograd/autocast.h"
#include "tessera/autograd/function_node.h"
#include "tessera/autograd/ops.h"
#include "tessera/autograd/unary_history.h"
#include "tessera/tensor/raw.h"

namespace tessera {

using autograd::compute_requires_grad;
using autograd::make_node;
using autograd::set_history;
using autograd::variable_list;

namespace {

// Gradients of matmul(a, b) for the output gradient g (all differentiable ops). a / b are only
// used (and only saved) when the other operand's gradient is needed.
variable_list matmul_backward(const Tensor& g, const Tensor& a, const Tensor& b, const Shape& a_sizes,
                              const Shape& b_sizes, bool need_a, bool need_b) {
  const bool a1 = a_sizes.size() == 1, b1 = b_sizes.size() == 1;
  // Re-insert the dims matmul removed: [.., 1, N] for a 1-D a, [.., M, 1] for a 1-D b.
  Tensor g2 = g;
  if (a1 && b1) {
    g2 = g.reshape({1, 1});
  } else if (a1) {
    g2 = g.unsqueeze(-2);
  } else if (b1) {
    g2 = g.unsqueeze(-1);
  }
  Shape a2_sizes = a_sizes, b2_sizes = b_sizes;
  if (a1) a2_sizes.insert(a2_sizes.begin(), 1);
  if (b1) b2_sizes.push_back(1);
  variable_list out(2);
  if (need_a) {
    Tensor b2 = b1 ? b.unsqueeze(1) : b;
    out[0] = sum_to(g2.matmul(b2.transpose(-1, -2)), a2_sizes).reshape(a_sizes);
  }
  if (need_b) {
    Tensor a2 = a1 ? a.unsqueeze(0) : a;
    if (b_sizes.size() == 2 && a2.dim() > 2) {
      // Note [weight gradient as one GEMM]: b is a matrix shared by every batch item of a
      // ([..., M, K] @ [K, N], e.g. x @ W^T in a linear layer), so grad_b = sum over the batch of
      // a_i^T g_i = a^T g with the batch folded into the rows: one [K, rows] x [rows, N] GEMM
      // instead of a batched GEMM into a [batch, K, N] temporary and a reduction.
      const int64_t K = a2.size(-1), N = g2.size(-1);
      out[1] = a2.reshape({-1, K}).t().mm(g2.reshape({-1, N}));
    } else {
      out[1] = sum_to(a2.transpose(-1, -2).matmul(g2), b2_sizes).reshape(b_sizes);
    }
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (autocast::active(a)) {  // autocast: lower precision (Note [autocast op lists])
    Tensor la = autocast::to_lower(a), lb = autocast::to_lower(b);
    autocast::ExcludeGuard excluded;
    return matmul(la, lb);
  }
  Tensor out = raw::matmul(a, b);
  if (compute_requires_grad(a, b)) {
    Shape as = a.sizes().vec(), bs = b.sizes().vec();
    auto node = make_node<2>("MatmulBackward0", [as, bs](auto& n, variable_list& g) {
      bool need_a = n.should_compute_output(0), need_b = n.should_compute_output(1);
      return matmul_backward(g[0], need_b ? n.saved(0) : Tensor(), need_a ? n.saved(1) : Tensor(), as, bs, need_a,
                             need_b);
    }, a, b);
    set_history(out, node);
    if (node->next_edge(1).is_valid()) node->save(0, a);
    if (node->next_edge(0).is_valid()) node->save(1, b);
  }
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (autocast::active(a)) {  // autocast: lower precision (Note [autocast op lists])
    Tensor la = autocast::to_lower(a), lb = autocast::to_lower(b);
    autocast::ExcludeGuard excluded;
    return mm(la, lb);
  }
  Tensor out = raw::mm(a, b);
  if (compute_requires_grad(a, b)) {
    auto node = make_node<2>("MmBackward0", [](auto& n, variable_list& g) {
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = g[0].mm(n.saved(1).t());
      if (n.should_compute_output(1)) r[1] = n.saved(0).t().mm(g[0]);
      return r;
    }, a, b);
    set_history(out, node);
    if (node->next_edge(1).is_valid()) node->save(0, a);
    if (node->next_edge(0).is_valid()) node->save(1, b);
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (autocast::active(a)) {  // autocast: lower precision (Note [autocast op lists])
    Tensor la = autocast::to_lower(a), lb = autocast::to_lower(b);
    autocast::ExcludeGuard excluded;
    return bmm(la, lb);
  }
  Tensor out = raw::bmm(a, b);
  if (compute_requires_grad(a, b)) {
    auto node = make_node<2>("BmmBackward0", [](auto& n, variable_list& g) {
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = g[0].bmm(n.saved(1).transpose(1, 2));
      if (n.should_compute_output(1)) r[1] = n.saved(0).transpose(1, 2).bmm(g[0]);
      return r;
    }, a, b);
    set_history(out, node);
    if (node->next_edge(1).is_valid()) node->save(0, a);
    if (node->next_edge(0).is_valid()) node->save(1, b);
  }
  return out;
}

namespace {
// The graph of torch.addmm for `out` (computed by a raw op).
void record_addmm(const Tensor& out, const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta,
                  Scalar alpha) {
  Shape self_sizes = self.sizes().vec();
  const double b = beta.to_double(), a = alpha.to_double();
  auto node = make_node<3>("AddmmBackward0", [self_sizes, b, a](auto& n, variable_list& g) {
    variable_list r(3);
    if (n.should_compute_output(0)) r[0] = sum_to(b == 1.0 ? g[0] : g[0] * b, self_sizes);
    Tensor ga = a == 1.0 ? g[0] : g[0] * a;
    if (n.should_compute_output(1)) r[1] = ga.mm(n.saved(1).t());
    if (n.should_compute_output(2)) r[2] = n.saved(0).t().mm(ga);
    return r;
  }, self, mat1, mat2);
  set_history(out, node);
  if (node->next_edge(2).is_valid()) node->save(0, mat1);
  if (node->next_edge(1).is_valid()) node->save(1, mat2);
}
}  // namespace

Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) {
  if (autocast::active(mat1)) {  // autocast: lower precision, like torch's addmm (Note [autocast op lists])
    Tensor ls = autocast::to_lower(self), l1 = autocast::to_lower(mat1), l2 = autocast::to_lower(mat2);
    autocast::ExcludeGuard excluded;
    return addmm(ls, l1, l2, beta, alpha);
  }
  Tensor out = raw::addmm(self, mat1, mat2, beta, alpha);
  if (compute_requires_grad(self, mat1, mat2)) record_addmm(out, self, mat1, mat2, beta, alpha);
  return out;
}

Tensor addmm_gelu_tanh(const Tensor& bias, const Tensor& mat1, const Tensor& mat2) {
  if (autocast::active(mat1)) {  // autocast: lower precision, as addmm (Note [autocast op lists])
    Tensor lb = autocast::to_lower(bias), l1 = autocast::to_lower(mat1), l2 = autocast::to_lower(mat2);
    autocast::ExcludeGuard excluded;
    return addmm_gelu_tanh(lb, l1, l2);
  }
  auto [out, pre] = raw::addmm_gelu_tanh(bias, mat1, mat2);
  // The graph of addmm followed by gelu(approximate="tanh"): the pre-activation is addmm's output.
  if (compute_requires_grad(bias, mat1, mat2)) {
    record_addmm(pre, bias, mat1, mat2, 1, 1);
    autograd::detail::record_input_saving_unary(UnaryOp::GeluTanh, pre, out);
  }
  return out;
}

Tensor Tensor::addmm(const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) const {
  return tessera::addmm(*this, mat1, mat2, beta, alpha);
}
Tensor Tensor::matmul(const Tensor& other) const { return tessera::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return tessera::mm(*this, other); }
Tensor Tensor::bmm(const Tensor& other) const { return tessera::bmm(*this, other); }

}  // namespace tessera
