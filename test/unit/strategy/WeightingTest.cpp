//===- WeightingTest.cpp - Loss weighting strategies ----------------------===//

#include "runtime/strategy/Strategy.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;
using namespace mtl::rt::strategy;

namespace {

StrategyConfig with(const std::string &weighting,
                    const std::string &gradient = "none") {
  StrategyConfig c;
  c.weighting = weighting;
  c.gradient = gradient;
  return c;
}

OptimizerConfig sgd(float lr) {
  OptimizerConfig o;
  o.kind = "sgd";
  o.lr = lr;
  return o;
}

TEST(Weighting, StaticAndEqual) {
  auto s = makeWeighting(with("static"), {0.5, 2.0}, sgd(0.1), 1);
  EXPECT_EQ(s->weights(0), (std::vector<float>{0.5f, 2.0f}));
  auto e = makeWeighting(with("equal"), {0.5, 2.0}, sgd(0.1), 1);
  EXPECT_EQ(e->weights(3), (std::vector<float>{1.0f, 1.0f}));
}

// J(s) = sum_t (exp(-s_t) L_t + s_t) / 2: dJ/ds_t = (1 - exp(-s_t) L_t) / 2,
// checked against finite differences, and zero at s_t = log L_t (where the
// learned variance matches the loss).
TEST(Weighting, UncertaintyGradient) {
  std::vector<float> s = {0.3f, -0.7f}, L = {2.0f, 0.25f};
  auto J = [&](std::vector<float> x) {
    double j = 0;
    for (size_t t = 0; t < x.size(); ++t)
      j += (std::exp(-x[t]) * L[t] + x[t]) / 2;
    return j;
  };
  std::vector<float> g = uncertaintyGrad(s, L);
  for (size_t t = 0; t < s.size(); ++t) {
    std::vector<float> p = s, m = s;
    p[t] += 1e-3f;
    m[t] -= 1e-3f;
    EXPECT_NEAR(g[t], (J(p) - J(m)) / 2e-3, 1e-3);
  }
  std::vector<float> w = uncertaintyWeights(s);
  EXPECT_NEAR(w[0], 0.5 * std::exp(-0.3), 1e-6);
  g = uncertaintyGrad({std::log(2.0f), std::log(0.25f)}, L);
  EXPECT_NEAR(g[0], 0.0, 1e-6);
  EXPECT_NEAR(g[1], 0.0, 1e-6);
}

// Learned with SGD on a constant loss, s_t converges to log L_t.
TEST(Weighting, UncertaintyLearnsLogLoss) {
  auto u = makeWeighting(with("uncertainty"), {1, 1}, sgd(0.5), 1);
  for (int i = 0; i < 400; ++i) {
    u->weights(i);
    u->afterStep({4.0f, 0.5f}, {});
  }
  std::vector<float> w = u->weights(400);
  // w_t = exp(-s_t) / 2 = 1 / (2 L_t)
  EXPECT_NEAR(w[0], 1.0 / 8, 1e-3);
  EXPECT_NEAR(w[1], 1.0, 1e-2);
}

TEST(Weighting, DwaClosedForm) {
  auto d = makeWeighting(with("dwa"), {1, 1}, sgd(0.1), 1);
  EXPECT_EQ(d->weights(0), (std::vector<float>{1, 1}));
  d->afterStep({2.0f, 1.0f}, {});
  d->afterEpoch();
  EXPECT_EQ(d->weights(1), (std::vector<float>{1, 1})); // one epoch seen
  d->afterStep({1.0f, 1.0f}, {});
  d->afterStep({1.0f, 1.0f}, {});
  d->afterEpoch();
  // r = (1/2, 1/1), T = 2: w = 2 softmax(r / 2)
  std::vector<float> w = d->weights(2);
  double e0 = std::exp(0.25), e1 = std::exp(0.5);
  EXPECT_NEAR(w[0], 2 * e0 / (e0 + e1), 1e-6);
  EXPECT_NEAR(w[1], 2 * e1 / (e0 + e1), 1e-6);
  // The task whose loss fell less gets more weight.
  EXPECT_GT(w[1], w[0]);
}

TEST(Weighting, RlwIsSeededSoftmax) {
  auto a = makeWeighting(with("rlw"), {1, 1, 1}, sgd(0.1), 42);
  auto b = makeWeighting(with("rlw"), {1, 1, 1}, sgd(0.1), 42);
  std::vector<float> w5 = a->weights(5);
  EXPECT_EQ(w5, b->weights(5)); // same seed and step: same draw
  EXPECT_NE(w5, a->weights(6));
  EXPECT_NEAR(w5[0] + w5[1] + w5[2], 1.0, 1e-6);
  for (float x : w5)
    EXPECT_GT(x, 0.0f);
}

// Task 0's gradient is larger than the GradNorm target: its weight falls;
// the weights keep summing to T.
TEST(Weighting, GradNormBalancesGradientNorms) {
  StrategyConfig c = with("gradnorm");
  c.gradnormAlpha = 1.5;
  auto g = makeWeighting(c, {1, 1}, sgd(0.01), 1);
  ASSERT_TRUE(g->needsGradNorms());
  for (int i = 0; i < 20; ++i) {
    std::vector<float> w = g->weights(i);
    g->afterStep({1.0f, 1.0f}, {w[0] * 10.0, w[1] * 1.0});
  }
  std::vector<float> w = g->weights(20);
  EXPECT_LT(w[0], w[1]);
  EXPECT_NEAR(w[0] + w[1], 2.0, 1e-5);
}

// The strategy object: records per-task norms from combine() and applies
// the gradient method; state arrays restore a learned weighting exactly.
TEST(Strategy, CombineRecordsNormsAndRestores) {
  TaskStrategy s(with("uncertainty", "pcgrad"), {1, 1}, sgd(0.1), 3);
  s.beginStep(0);
  std::vector<float> g1 = {1, 0}, g2 = {-1, 1}, out(2);
  s.combine({g1.data(), g2.data()}, 2, out.data());
  EXPECT_NEAR(out[0], 0.5, 1e-6);
  EXPECT_NEAR(out[1], 1.5, 1e-6);
  s.afterStep({2.0f, 3.0f});
  ASSERT_EQ(s.lastGradNorms().size(), 2u);
  EXPECT_NEAR(s.lastGradNorms()[1], std::sqrt(2.0), 1e-6);
  std::vector<float> w1 = s.beginStep(1);
  EXPECT_NE(w1[0], 0.5f); // learned away from exp(0) / 2

  TaskStrategy r(with("uncertainty", "pcgrad"), {1, 1}, sgd(0.1), 3);
  auto src = s.state(), dst = r.state();
  ASSERT_EQ(src.size(), dst.size());
  for (size_t i = 0; i < src.size(); ++i)
    *dst[i].second = *src[i].second;
  r.restored();
  EXPECT_EQ(r.beginStep(1), w1);
}

} // namespace
