// nn::Module: registration and dotted names, tied parameters, train/eval, zero_grad, state_dict
// round trip and load_state_dict's error messages, to(dtype) keeping member handles valid.
#include <gtest/gtest.h>

#include <tessera/tessera.h>

using namespace tessera;

namespace {

struct Leaf : nn::Module {
  Tensor weight, bias;
  Leaf(int64_t in, int64_t out) : nn::Module("Leaf") {
    weight = register_parameter("weight", tessera::ones({out, in}));
    bias = register_parameter("bias", tessera::zeros({out}));
    register_buffer("counter", tessera::zeros({1}, kInt64));
    register_buffer("scratch", tessera::zeros({2}), /*persistent=*/false);
  }
  std::string extra_repr() const override { return "in=2"; }
};

struct Tree : nn::Module {
  std::shared_ptr<Leaf> a, b;
  Tree() : nn::Module("Tree") {
    register_parameter("scale", tessera::ones({1}));
    a = register_module("a", std::make_shared<Leaf>(2, 3));
    b = register_module("b", std::make_shared<Leaf>(3, 1));
  }
};

std::vector<std::string> names(const nn::NamedTensors& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, DottedNamesInRegistrationOrder) {
  auto m = std::make_shared<Tree>();
  EXPECT_EQ(names(m->named_parameters()),
            (std::vector<std::string>{"scale", "a.weight", "a.bias", "b.weight", "b.bias"}));
  EXPECT_EQ(names(m->state_dict()), (std::vector<std::string>{"scale", "a.weight", "a.bias", "a.counter", "b.weight",
                                                              "b.bias", "b.counter"}));
  EXPECT_EQ(names(m->named_buffers()).size(), 4u);  // non-persistent buffers are listed, not saved
  EXPECT_EQ(m->num_parameters(), 1 + 6 + 3 + 3 + 1);
  auto mods = m->named_modules();
  ASSERT_EQ(mods.size(), 3u);
  EXPECT_EQ(mods[0].first, "");
  EXPECT_EQ(mods[2].first, "b");
  for (auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad() && p.is_leaf());
  EXPECT_THROW(m->register_parameter("scale", tessera::ones({1})), ValueError);
  EXPECT_THROW(m->register_parameter("x.y", tessera::ones({1})), ValueError);
  EXPECT_THROW(m->register_parameter("ints", tessera::ones({1}, kInt64)), DTypeError);
  EXPECT_TRUE(m->get("a.weight").impl() == m->a->weight.impl());
  EXPECT_THROW(m->get("a.wieght"), ValueError);
  std::string printed = nn::to_string(*m);
  EXPECT_NE(printed.find("(a): Leaf(in=2)"), std::string::npos) << printed;
}

TEST(Module, TiedParametersAreListedOnce) {
  auto m = std::make_shared<Tree>();
  m->b->register_parameter("tied", m->a->weight);
  EXPECT_EQ(m->parameters().size(), 5u);
}

TEST(Module, TrainEvalPropagates) {
  auto m = std::make_shared<Tree>();
  EXPECT_TRUE(m->b->is_training());
  m->eval();
  EXPECT_FALSE(m->is_training());
  EXPECT_FALSE(m->b->is_training());
  m->train();
  EXPECT_TRUE(m->a->is_training());
}

TEST(Module, ZeroGrad) {
  auto m = std::make_shared<Tree>();
  Tensor x = tessera::ones({4, 2});
  Tensor y = matmul(matmul(x, m->a->weight.t()) + m->a->bias, m->b->weight.t()).sum();
  y.backward();
  ASSERT_TRUE(m->a->weight.grad().defined());
  m->zero_grad(/*set_to_none=*/false);
  EXPECT_TRUE(m->a->weight.grad().defined());
  EXPECT_EQ(m->a->weight.grad().abs().sum().item<float>(), 0.0f);
  m->zero_grad();
  EXPECT_FALSE(m->a->weight.grad().defined());
}

TEST(Module, StateDictRoundTripAndErrors) {
  auto src = std::make_shared<Tree>();
  {
    NoGradGuard g;
    src->a->weight.copy_(tessera::arange(6).view({3, 2}).to(kFloat32));
  }
  auto dst = std::make_shared<Tree>();
  dst->load_state_dict(src->state_dict());
  EXPECT_TRUE(equal(dst->a->weight, src->a->weight));
  EXPECT_NE(dst->a->weight.data_ptr(), src->a->weight.data_ptr());  // copied, not aliased

  auto sd = src->state_dict();
  sd.erase(sd.begin() + 1);                                   // a.weight missing
  sd.emplace_back("extra.thing", tessera::ones({1}));         // unexpected
  sd[0].second = tessera::ones({2});                          // scale: wrong shape
  try {
    dst->load_state_dict(sd);
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Missing key(s) in state_dict: \"a.weight\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("Unexpected key(s) in state_dict: \"extra.thing\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("size mismatch for scale: checkpoint has shape [2], the model has shape [1]"),
              std::string::npos)
        << msg;
  }
  sd[0].second = tessera::ones({1});
  EXPECT_NO_THROW(dst->load_state_dict(sd, /*strict=*/false));
}

TEST(Module, ToDTypeKeepsMemberHandles) {
  auto m = std::make_shared<Tree>();
  Tensor before = m->a->weight;
  m->to(kFloat64);
  EXPECT_EQ(m->a->weight.dtype(), kFloat64);
  EXPECT_EQ(before.dtype(), kFloat64);  // same impl
  EXPECT_EQ(m->get("a.counter").dtype(), kInt64);  // integer buffers keep their dtype
  EXPECT_TRUE(m->a->weight.requires_grad());
  Tensor y = (m->a->weight * 2).sum();
  y.backward();
  EXPECT_EQ(m->a->weight.grad().dtype(), kFloat64);
}
