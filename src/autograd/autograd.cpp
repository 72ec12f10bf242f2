// autograd::backward and autograd::grad: argument checks with PyTorch's messages, implicit seed
// gradients, then one engine run.
#include "tessera/autograd/autograd.h"

#include "tessera/autograd/engine.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

namespace {

variable_list make_grads(const variable_list& outputs, const variable_list& grad_outputs) {
  TESSERA_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError,
                "got {} tensors and {} gradients", outputs.size(), grad_outputs.size());
  variable_list grads;
  grads.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    TESSERA_CHECK(out.defined(), ValueError, "backward: output {} is an undefined tensor", i);
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      if (requires_grad(out)) {
        TESSERA_CHECK(out.numel() == 1, ValueError, "grad can be implicitly created only for scalar outputs");
        TESSERA_CHECK(out.is_floating_point(), DTypeError,
                      "grad can be computed only for real scalar outputs but got {}", dtype_name(out.dtype()));
        g = raw::full(out.sizes(), 1, out.options());
      }
    } else {
      TESSERA_CHECK(g.sizes().equals(out.sizes()), ShapeError,
                    "Mismatch in shape: grad_output[{}] has a shape of {} and output[{}] has a shape of {}.", i,
                    shape_str(g.sizes()), i, shape_str(out.sizes()));
      TESSERA_CHECK(g.is_floating_point(), DTypeError,
                    "Mismatch in dtype: grad_output[{}] has dtype {} but output[{}] has dtype {}; gradients must be "
                    "floating point",
                    i, dtype_name(g.dtype()), i, dtype_name(out.dtype()));
      TESSERA_CHECK(g.device() == out.device(), DeviceError,
                    "Mismatch in device: grad_output[{}] is on {} but output[{}] is on {}.", i, g.device().str(), i,
                    out.device().str());
    }
    grads.push_back(std::move(g));
  }
  return grads;
}

edge_list root_edges(const variable_list& outputs) {
  edge_list roots;
  roots.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Edge e = gradient_edge(outputs[i]);
    TESSERA_CHECK(e.is_valid(), ValueError, "element {} of tensors does not require grad and does not have a grad_fn",
                  i);
    roots.push_back(std::move(e));
  }
  return roots;
}

// Where the gradient of each input arrives. Leaves use their existing accumulator; a leaf without
// one is not in any graph, so it gets an edge to a node that is never reached.
edge_list input_edges(const variable_list& inputs, bool retain_for_backward) {
  edge_list edges;
  edges.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    TESSERA_CHECK(in.defined() && requires_grad(in), ValueError, "One of the differentiated Tensors does not require grad");
    if (retain_for_backward) in.retain_grad();
    const auto& fn = grad_fn_of(in);
    if (fn) {
      edges.emplace_back(fn, uint32_t(in.output_nr()));
      continue;
    }
    std::shared_ptr<Node> acc = get_autograd_meta(in).grad_accumulator.lock();
    if (!acc) acc = std::make_shared<ErrorNode>("unreachable input", edge_list{});
    edges.emplace_back(std::move(acc), 0);
  }
  return edges;
}

}  // namespace

void backward(const variable_list& tensors, const variable_list& grad_tensors, std::optional<bool> retain_graph,
              bool create_graph, const variable_list& inputs) {
  variable_list grads = make_grads(tensors, grad_tensors);
  edge_list roots = root_edges(tensors);
  edge_list outputs = input_edges(inputs, /*retain_for_backward=*/true);
  run_backward(roots, std::move(grads), retain_graph.value_or(create_graph), create_graph, outputs,
               /*accumulate_grad=*/true);
}

variable_list grad(const variable_list& outputs, const variable_list& inputs, const variable_list& grad_outputs,
                   std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  TESSERA_CHECK(!inputs.empty(), ValueError, "grad requires at least one input");
  variable_list grads = make_grads(outputs, grad_outputs);
  edge_list roots = root_edges(outputs);
  edge_list in_edges = input_edges(inputs, /*retain_for_backward=*/false);
  variable_list result = run_backward(roots, std::move(grads), retain_graph.value_or(create_graph), create_graph,
                                      in_edges, /*accumulate_grad=*/false);
  for (size_t i = 0; i < result.size(); ++i) {
    TESSERA_CHECK(allow_unused || result[i].defined(), ValueError,
                  "The differentiated Tensor at index {} appears to not have been used in the graph. Set "
                  "allow_unused=True if this is the desired behavior.",
                  i);
  }
  return result;
}

}  // namespace tessera::autograd
