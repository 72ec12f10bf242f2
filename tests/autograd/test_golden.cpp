// Golden tests against PyTorch (tests/data/autograd_api.json, written by
// tools/golden/autograd_api.py): the same small programs give the same gradients, and the
// autograd errors carry PyTorch's messages (with tessera's names for tensor types and sizes).
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;
using json = nlohmann::json;

namespace {

const json& golden() {
  static json j = [] {
    std::ifstream f(std::string(TESSERA_TEST_DATA_DIR) + "/autograd_api.json");
    EXPECT_TRUE(f.good()) << "missing " << TESSERA_TEST_DATA_DIR << "/autograd_api.json";
    return json::parse(f);
  }();
  return j;
}

std::vector<double> flat(const json& v) {
  std::vector<double> out;
  if (v.is_array()) {
    for (const auto& e : v) {
      auto sub = flat(e);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else {
    out.push_back(v.get<double>());
  }
  return out;
}
Shape shape_of(const json& v) {
  Shape s;
  const json* p = &v;
  while (p->is_array()) {
    s.push_back(int64_t(p->size()));
    p = &(*p)[0];
  }
  return s;
}
Tensor input(const char* name, bool rg = true) {
  const json& v = golden()["inputs"][name];
  return make(flat(v), shape_of(v), kFloat64, rg);
}
void expect_golden(const Tensor& t, const char* prog, const char* key, double tol = 1e-10) {
  SCOPED_TRACE(std::string(prog) + "." + key);
  const json& want = golden()["values"][prog][key];
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.sizes().vec(), shape_of(want));
  expect_values(t, flat(want), tol);
}

// PyTorch's text with tessera's spelling of types and sizes, cut before the (framework-specific) hint.
std::string expected_error(const char* key) {
  std::string s = golden()["errors"][key].get<std::string>();
  s = std::regex_replace(s, std::regex(R"(torch\.Size\(\[([0-9, ]*)\]\))"), "[$1]");
  s = std::regex_replace(s, std::regex(R"(\[torch\.DoubleTensor )"), "[tessera float64 ");
  s = std::regex_replace(s, std::regex(R"(\[torch\.FloatTensor )"), "[tessera float32 ");
  size_t hint = s.find(" Hint:");
  return hint == std::string::npos ? s : s.substr(0, hint);
}

#define EXPECT_GOLDEN_ERROR(stmt, key) EXPECT_THROW_MSG(stmt, expected_error(key))

}  // namespace

TEST(Golden, NonScalarBackward) {
  Tensor x = input("X23");
  Tensor y = x.exp() * 2.0;
  y.backward(input("G23", false));
  expect_golden(x.grad(), "nonscalar_backward", "x_grad");
}

TEST(Golden, MultiTensorBackward) {
  Tensor x = input("X23");
  Tensor y1 = x.sin();
  Tensor y2 = (x * x).sum();
  ag::backward({y1, y2}, {input("G23", false), Tensor()});
  expect_golden(x.grad(), "multi_backward", "x_grad");
}

TEST(Golden, GradAllowUnused) {
  Tensor a = input("X23"), b = input("W32");
  auto g = ag::grad({(a * a).sum()}, {a, b}, {}, std::nullopt, false, /*allow_unused=*/true);
  expect_golden(g[0], "grad_allow_unused", "a_grad");
  EXPECT_EQ(!g[1].defined(), golden()["values"]["grad_allow_unused"]["b_is_none"].get<bool>());
  EXPECT_EQ(!a.grad().defined(), golden()["values"]["grad_allow_unused"]["a_dot_grad_is_none"].get<bool>());
}

TEST(Golden, MatmulChain) {
  Tensor x = input("X23"), w = input("W32");
  Tensor h = x.matmul(w);
  Tensor z = h.tanh().sum();
  auto gh = ag::grad({z}, {h}, {}, /*retain_graph=*/true);
  z.backward();
  expect_golden(gh[0], "matmul_chain", "h_grad");
  expect_golden(x.grad(), "matmul_chain", "x_grad");
  expect_golden(w.grad(), "matmul_chain", "w_grad");
}

TEST(Golden, HooksReplaceGradients) {
  Tensor x = input("X23");
  Tensor h = x * 2.0;
  h.register_hook([](const Tensor& g) { return g * 3.0; });
  x.register_hook([](const Tensor& g) { return g + 1.0; });
  (h * h).sum().backward();
  expect_golden(x.grad(), "hooks_replace", "x_grad");
}

TEST(Golden, AccumulationAndRetainGraph) {
  Tensor x = input("X23");
  Tensor y = (x * x).sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  x.exp().sum().backward();
  expect_golden(x.grad(), "accumulate", "x_grad");
}

TEST(Golden, RetainGrad) {
  Tensor x = input("X23");
  Tensor h = x.sigmoid();
  h.retain_grad();
  (h * h).sum().backward();
  expect_golden(h.grad(), "retain_grad", "h_grad");
  expect_golden(x.grad(), "retain_grad", "x_grad");
}

TEST(Golden, InPlaceThroughViews) {
  Tensor x = input("X23");
  Tensor base = x * 1.0;
  base[0].mul_(2.0);
  base.narrow(1, 1, 2).exp_();
  (base * input("G23", false)).sum().backward();
  expect_golden(base, "inplace_view", "base");
  expect_golden(x.grad(), "inplace_view", "x_grad");
}

TEST(Golden, DoubleBackward) {
  Tensor x = input("X23");
  Tensor y = (x * x * x).sum();
  auto g = ag::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  g[0].sum().backward();
  expect_golden(g[0], "double_backward", "g");
  expect_golden(x.grad(), "double_backward", "x_grad");
}

TEST(Golden, SoftmaxDoubleBackward) {
  Tensor x = input("X23");
  Tensor s = x.softmax(-1);
  auto gs = ag::grad({(s * input("G23", false)).sum()}, {x}, {}, std::nullopt, true);
  (gs[0] * gs[0]).sum().backward();
  expect_golden(gs[0], "softmax_double_backward", "gs");
  expect_golden(x.grad(), "softmax_double_backward", "x_grad");
}

TEST(Golden, LayerNormDoubleBackward) {
  Tensor x = input("X23");
  Tensor w = make({1.5, -0.5, 2.0}, {3}, kFloat64, true);
  Tensor b = make({0.1, 0.2, 0.3}, {3}, kFloat64, true);
  Tensor y = layer_norm(x, {3}, w, b, 1e-5);
  auto g = ag::grad({(y * input("G23", false)).sum()}, {x, w}, {}, std::nullopt, true);
  ((g[0] * g[0]).sum() + (g[1] * g[1]).sum()).backward();
  const json& v = golden()["values"]["layer_norm_double_backward"];
  expect_golden(g[0], "layer_norm_double_backward", "gx", 1e-8);
  expect_golden(g[1], "layer_norm_double_backward", "gw", 1e-8);
  expect_golden(x.grad(), "layer_norm_double_backward", "x_grad", 1e-7);
  expect_golden(w.grad(), "layer_norm_double_backward", "w_grad", 1e-7);
  EXPECT_EQ(b.grad().defined(), !v["b_grad"].is_null());
}

TEST(Golden, ErrorMessages) {
  Tensor x = input("X23");
  EXPECT_GOLDEN_ERROR(x.exp().backward(), "nonscalar_implicit");
  EXPECT_GOLDEN_ERROR(ag::backward({x.exp(), x.exp()}, {input("G23", false)}), "count_mismatch");
  EXPECT_GOLDEN_ERROR(ag::grad({(x * x).sum()}, {x, input("W32")}), "allow_unused");
  EXPECT_GOLDEN_ERROR(ag::grad({(x * x).sum()}, {input("W32", false)}), "not_require_grad");
  EXPECT_GOLDEN_ERROR(input("X23", false).sum().backward(), "no_grad_fn");
  Tensor y = x.exp().sum();
  y.backward();
  EXPECT_GOLDEN_ERROR(y.backward(), "second_backward");
  EXPECT_GOLDEN_ERROR(input("X23").add_(1), "leaf_inplace");
  EXPECT_GOLDEN_ERROR(input("X23")[0].add_(1), "view_of_leaf_inplace");
  EXPECT_GOLDEN_ERROR(x.exp().backward(make({1, 2, 3}, {3})), "shape_mismatch");
  {
    Tensor a = input("X23");
    Tensor e = a.exp();
    e.add_(1);
    EXPECT_GOLDEN_ERROR(e.sum().backward(), "version_output");
  }
  {
    Tensor a = input("X23");
    Tensor h = a * 1.0;
    Tensor z = h.sin();
    h.mul_(2.0);
    EXPECT_GOLDEN_ERROR(z.sum().backward(), "version_input");
  }
}
