//===- OptimizerTest.cpp - SGD, Adam and initializers against hand math --===//

#include "runtime/Adam.h"
#include "runtime/Error.h"
#include "runtime/Init.h"
#include "runtime/Sgd.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;

TEST(Adam, TwoStepsWithBiasCorrection) {
  OptimizerConfig c;
  c.kind = "adam";
  c.lr = 0.1f;
  auto opt = makeOptimizer(c, 1);
  float p = 1.0f, g = 0.5f;
  opt->step(&p, &g);
  EXPECT_NEAR(p, 0.9f, 1e-6);
  g = -0.25f;
  opt->step(&p, &g);
  // By hand (torch.optim.Adam): m = 0.02, v = 3.1225e-4, bias corrections
  // 0.19 and 0.001999 -> p = 0.9 - 0.1 * 0.105263 / 0.395225.
  EXPECT_NEAR(p, 0.8733663f, 1e-6);
  EXPECT_EQ(opt->steps(), 2);
  EXPECT_NEAR((*opt->state()[0].second)[0], 0.02f, 1e-7);
  EXPECT_NEAR((*opt->state()[1].second)[0], 3.1225e-4f, 1e-8);
}

TEST(Adam, WeightDecayIsAddedToTheGradient) {
  OptimizerConfig c;
  c.lr = 0.1f;
  c.weightDecay = 0.1f;
  Adam opt(c, 1);
  float p = -2.0f, g = 0.5f;
  opt.step(&p, &g);
  EXPECT_NEAR(p, -2.1f, 1e-6);
  g = -0.25f;
  opt.step(&p, &g);
  EXPECT_NEAR(p, -2.0742513f, 1e-6);
}

TEST(Sgd, MomentumAndWeightDecay) {
  OptimizerConfig c;
  c.kind = "sgd";
  c.lr = 0.1f;
  c.momentum = 0.9f;
  auto opt = makeOptimizer(c, 2);
  float p[2] = {1.0f, 1.0f}, g[2] = {1.0f, 0.0f};
  opt->step(p, g);
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  opt->step(p, g);
  EXPECT_NEAR(p[0], 0.71f, 1e-6); // v = 0.9 * 1 + 1 = 1.9
  EXPECT_EQ(p[1], 1.0f);

  c.weightDecay = 0.01f;
  Sgd wd(c, 1);
  float q = 1.0f, h = 1.0f;
  wd.step(&q, &h); // g = 1.01, v = 1.01
  EXPECT_NEAR(q, 0.899f, 1e-6);
  wd.step(&q, &h); // g = 1.00899, v = 0.909 + 1.00899
  EXPECT_NEAR(q, 0.707201f, 1e-6);
  EXPECT_NEAR((*wd.state()[0].second)[0], 1.91799f, 1e-5);
}

TEST(Optimizer, UnknownKind) {
  OptimizerConfig c;
  c.kind = "lion";
  EXPECT_THROW(makeOptimizer(c, 1), Error);
}

TEST(Init, Distributions) {
  ParamSpec he{"w", {100, 100}, "he_normal", 50, 100};
  std::vector<float> v(10000);
  std::mt19937_64 rng(3);
  initParam(he, v.data(), rng);
  double sum = 0, sq = 0;
  for (float x : v)
    sum += x, sq += double(x) * x;
  double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sd, std::sqrt(2.0 / 50), 0.01);

  ParamSpec glorot{"g", {10000}, "glorot_uniform", 20, 40};
  initParam(glorot, v.data(), rng);
  float limit = std::sqrt(6.0f / 60), lo = 1, hi = -1;
  for (float x : v)
    lo = std::min(lo, x), hi = std::max(hi, x);
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_LT(lo, -0.95f * limit);
  EXPECT_GT(hi, 0.95f * limit);

  std::vector<ParamSpec> params = {{"a", {3}, "ones", 0, 0},
                                   {"b", {2}, "zeros", 0, 0}};
  std::vector<float> out(5, 7.0f);
  initParams(params, out.data(), 1);
  EXPECT_EQ(out, (std::vector<float>{1, 1, 1, 0, 0}));
}

TEST(Init, BiasValuesFromTheSpec) {
  std::mt19937_64 rng(1);
  std::vector<float> v(4, 7.0f);
  initParam({"b", {4}, "values:-1.5,-1.5,1.5,2", 0, 0}, v.data(), rng);
  EXPECT_EQ(v, (std::vector<float>{-1.5f, -1.5f, 1.5f, 2.0f}));
  initParam({"b", {4}, "values:0.25", 0, 0}, v.data(), rng);
  EXPECT_EQ(v, (std::vector<float>(4, 0.25f)));
  auto message = [&](const char *init) {
    try {
      initParam({"b", {4}, init, 0, 0}, v.data(), rng);
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("values:1,2").find("2 values for 4 elements"),
            std::string::npos);
  EXPECT_NE(message("values:1,x").find("malformed"), std::string::npos);
}

TEST(Init, SeededAndDeterministic) {
  std::vector<ParamSpec> params = {{"w", {64}, "he_normal", 8, 8}};
  std::vector<float> a(64), b(64), c(64);
  initParams(params, a.data(), 11);
  initParams(params, b.data(), 11);
  initParams(params, c.data(), 12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}
