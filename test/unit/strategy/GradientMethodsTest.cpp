//===- GradientMethodsTest.cpp - Gradient manipulation, closed forms ------===//

#include "runtime/strategy/GradientMethods.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt::strategy;

extern "C" int mtl_rt_combine_task_grads(int32_t tasks, int32_t taskMask,
                                         halide_buffer_t *stacked,
                                         halide_buffer_t *out);

namespace {

std::vector<float> applyWeights(const std::vector<std::vector<float>> &gs,
                                const std::vector<double> &alpha) {
  std::vector<const float *> p;
  for (auto &g : gs)
    p.push_back(g.data());
  std::vector<float> out(gs[0].size());
  combine(p, static_cast<int64_t>(out.size()), alpha, out.data());
  return out;
}

Gram gramOf(const std::vector<std::vector<float>> &gs) {
  std::vector<const float *> p;
  for (auto &g : gs)
    p.push_back(g.data());
  return gramMatrix(p, static_cast<int64_t>(gs[0].size()));
}

double dot(const std::vector<float> &a, const std::vector<float> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

TEST(GradientMethods, GramMatrix) {
  Gram G = gramOf({{1, 2}, {3, -1}});
  EXPECT_DOUBLE_EQ(G[0], 5);
  EXPECT_DOUBLE_EQ(G[1], 1);
  EXPECT_DOUBLE_EQ(G[2], 1);
  EXPECT_DOUBLE_EQ(G[3], 10);
}

// g1 = (1, 0), g2 = (-1, 1) conflict (g1.g2 = -1):
//   g1' = g1 - (-1/2) g2 = (0.5, 0.5), g2' = g2 - (-1/1) g1 = (0, 1),
// d = (0.5, 1.5), whatever the order.
TEST(GradientMethods, PCGradProjectsConflictingPair) {
  std::vector<std::vector<float>> gs = {{1, 0}, {-1, 1}};
  std::mt19937_64 rng(7);
  std::vector<float> d = applyWeights(gs, pcgradWeights(gramOf(gs), rng));
  EXPECT_NEAR(d[0], 0.5, 1e-6);
  EXPECT_NEAR(d[1], 1.5, 1e-6);
  // The projected gradients no longer conflict with the other task.
  EXPECT_GE(dot(d, gs[0]), 0.0);
  EXPECT_GE(dot(d, gs[1]), 0.0);
}

TEST(GradientMethods, PCGradLeavesAgreeingGradientsAlone) {
  std::vector<std::vector<float>> gs = {{1, 2, 0}, {2, 1, 1}, {0, 1, 3}};
  std::mt19937_64 rng(1);
  std::vector<double> a = pcgradWeights(gramOf(gs), rng);
  for (double x : a)
    EXPECT_DOUBLE_EQ(x, 1.0); // plain sum
}

// Min-norm point of the segment between (1, 0) and (0, 1): (0.5, 0.5);
// between (2, 0) and (0, 1): gamma = 1/5, d = (0.4, 0.8).
TEST(GradientMethods, MgdaMinNormOfTwoVectors) {
  std::vector<std::vector<float>> gs = {{1, 0}, {0, 1}};
  std::vector<float> d = applyWeights(gs, mgdaWeights(gramOf(gs)));
  EXPECT_NEAR(d[0], 0.5, 1e-6);
  EXPECT_NEAR(d[1], 0.5, 1e-6);
  gs = {{2, 0}, {0, 1}};
  std::vector<double> a = mgdaWeights(gramOf(gs));
  EXPECT_NEAR(a[0], 0.2, 1e-9);
  EXPECT_NEAR(a[1], 0.8, 1e-9);
  d = applyWeights(gs, a);
  EXPECT_NEAR(d[0], 0.4, 1e-6);
  EXPECT_NEAR(d[1], 0.8, 1e-6);
  EXPECT_DOUBLE_EQ(minNormTwo(4, 0, 1), 0.2);
}

// One vector inside the hull of the others' segment: a vertex wins when it
// is the min-norm point (g2 = (1, 1) is shorter than any mix with (3, 3)).
TEST(GradientMethods, MgdaThreeVectorsOnTheSimplex) {
  std::vector<std::vector<float>> gs = {{1, 0}, {0, 1}, {1, 1}};
  std::vector<double> a = mgdaWeights(gramOf(gs));
  std::vector<float> d = applyWeights(gs, a);
  EXPECT_NEAR(d[0], 0.5, 1e-4);
  EXPECT_NEAR(d[1], 0.5, 1e-4);
  EXPECT_NEAR(a[0] + a[1] + a[2], 1.0, 1e-9);
}

TEST(GradientMethods, CagradWithZeroCIsTheMean) {
  std::vector<std::vector<float>> gs = {{1, 0, 2}, {-1, 3, 0}, {4, 1, 1}};
  std::vector<float> d = applyWeights(gs, cagradWeights(gramOf(gs), 0.0));
  EXPECT_NEAR(d[0], 4.0 / 3, 1e-6);
  EXPECT_NEAR(d[1], 4.0 / 3, 1e-6);
  EXPECT_NEAR(d[2], 1.0, 1e-6);
}

// With c > 0 the update improves the worst task more than the mean does:
// min_t g_t . d >= min_t g_t . g0 (the point of CAGrad).
TEST(GradientMethods, CagradImprovesTheWorstTask) {
  std::vector<std::vector<float>> gs = {{1, 0}, {-0.5, 2}};
  std::vector<float> mean = applyWeights(gs, cagradWeights(gramOf(gs), 0.0));
  std::vector<float> d = applyWeights(gs, cagradWeights(gramOf(gs), 0.5));
  double worstMean = std::min(dot(gs[0], mean), dot(gs[1], mean));
  double worstD = std::min(dot(gs[0], d), dot(gs[1], d));
  EXPECT_GT(worstD, worstMean);
}

// IMTL-G: the combined gradient has equal projections on every unit task
// gradient, and the weights sum to 1. For g1 = (1, 0), g2 = (0, 2):
// alpha = (2/3, 1/3), d = (2/3, 2/3).
TEST(GradientMethods, ImtlgEqualProjections) {
  std::vector<std::vector<float>> gs = {{1, 0}, {0, 2}};
  std::vector<double> a = imtlgWeights(gramOf(gs));
  EXPECT_NEAR(a[0], 2.0 / 3, 1e-9);
  EXPECT_NEAR(a[1], 1.0 / 3, 1e-9);
  gs = {{1, 0, 0}, {1, 3, 0}, {0, 1, 2}};
  a = imtlgWeights(gramOf(gs));
  EXPECT_NEAR(a[0] + a[1] + a[2], 1.0, 1e-9);
  std::vector<float> d = applyWeights(gs, a);
  std::vector<double> proj;
  for (auto &g : gs)
    proj.push_back(dot(d, g) / std::sqrt(dot(g, g)));
  EXPECT_NEAR(proj[0], proj[1], 1e-5);
  EXPECT_NEAR(proj[0], proj[2], 1e-5);
}

// The extern a train step's join calls: bounds query, then a plain sum
// when no strategy is active.
TEST(GradientMethods, CombineExternSumsWithoutStrategy) {
  float data[2][3] = {{1, 2, 3}, {10, 20, 30}};
  float result[3] = {0, 0, 0};
  halide_dimension_t sd[2] = {{0, 3, 1, 0}, {0, 2, 3, 0}};
  halide_dimension_t od[1] = {{0, 3, 1, 0}};
  halide_buffer_t stacked{}, out{};
  stacked.type = out.type = halide_type_t(halide_type_float, 32);
  stacked.dimensions = 2;
  stacked.dim = sd;
  out.dimensions = 1;
  out.dim = od;
  out.host = reinterpret_cast<uint8_t *>(result);
  sd[1].extent = 0;
  ASSERT_EQ(mtl_rt_combine_task_grads(2, 3, &stacked, &out), 0); // query
  EXPECT_EQ(sd[1].extent, 2);
  EXPECT_EQ(sd[0].extent, 3);
  stacked.host = reinterpret_cast<uint8_t *>(data);
  ASSERT_EQ(mtl_rt_combine_task_grads(2, 3, &stacked, &out), 0);
  EXPECT_FLOAT_EQ(result[0], 11);
  EXPECT_FLOAT_EQ(result[2], 33);
}

} // namespace
