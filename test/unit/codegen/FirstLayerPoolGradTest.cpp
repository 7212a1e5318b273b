//===- FirstLayerPoolGradTest.cpp - a first layer's backward from its argmax
//===//
//
// conv (one input channel, 3 x 3) -> batch_norm_train (-> relu) -> max_pool
// with its gradient, as autodiff and mtl-save-pool-argmax leave them: the
// forward's max_pool_argmax beside the pool, the max_pool_grad reading it.
// Segmented, the argmax shares the pool's pass over the windows
// (ops/FirstLayerPool.cpp) and the batch norm's gamma pass visits each
// window once (ops/FirstLayerPoolGrad.cpp); the unsegmented step lowers
// every op as written. Both match each other and the step whose pool
// gradient finds the maxima again (no argmax).
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

struct Layer {
  int64_t C;
  bool relu;
  int64_t K; // K x K windows at stride K
};

std::ostream &operator<<(std::ostream &os, const Layer &l) {
  return os << l.C << " channels, " << (l.relu ? "relu, " : "") << "pool "
            << l.K;
}

/// The first layer's train step; `argmax`: with the saved argmax.
mtl::kg::Function firstLayerStep(const Layer &l, bool argmax) {
  const int64_t N = 4, H = 12, P = H / l.K, C = l.C;
  Builder b("first_layer_step");
  int img = b.arg(ArgKind::Input, "image", {N, H, H, 1});
  int w = b.arg(ArgKind::Param, "w", {3, 3, 1, C});
  int cb = b.arg(ArgKind::Param, "conv_bias", {C});
  int gamma = b.arg(ArgKind::Param, "gamma", {C});
  int beta = b.arg(ArgKind::Param, "beta", {C});
  int g = b.arg(ArgKind::Input, "pooled_grad", {N, P, P, C});
  const std::map<std::string, std::vector<int64_t>> conv = {{"padding", {1, 1}},
                                                            {"stride", {1, 1}}};
  const std::map<std::string, std::vector<int64_t>> pool = {
      {"kernel", {l.K, l.K}}, {"stride", {l.K, l.K}}};
  int x = b.op("conv2d", {img, w, cb}, {N, H, H, C}, conv);
  int stats = b.op("batch_stats", {x}, {2, C});
  int y = b.op("batch_norm_train", {x, stats, gamma, beta}, {N, H, H, C});
  if (l.relu)
    y = b.op("relu", {y}, {N, H, H, C}, {{"mtl.fused_epilogue", {1}}});
  int pooled = b.op("max_pool", {y}, {N, P, P, C}, pool);
  std::vector<int> gradIn = {g, y};
  if (argmax) {
    int a = b.op("max_pool_argmax", {y}, {N, P, P, C}, pool);
    b.fn.values[a].dtype = DType::I8;
    gradIn.push_back(a);
  }
  int dy = b.op("max_pool_grad", gradIn, {N, H, H, C}, pool);
  if (l.relu)
    dy =
        b.op("relu_grad", {dy, y}, {N, H, H, C}, {{"mtl.fused_epilogue", {1}}});
  int dgamma = b.op("batch_norm_grad_gamma", {dy, x, stats}, {C});
  int dbeta = b.op("bias_grad", {dy}, {C});
  int dx = b.op("batch_norm_backward_input",
                {dy, x, stats, gamma, dgamma, dbeta}, {N, H, H, C});
  int dw = b.op("conv2d_backward_filter", {img, dx}, {3, 3, 1, C}, conv);
  int db = b.op("bias_grad", {dx}, {C});
  b.out(ArgKind::Prediction, "pooled", pooled);
  b.out(ArgKind::Grad, "w", dw);
  b.out(ArgKind::Grad, "conv_bias", db);
  b.out(ArgKind::Grad, "gamma", dgamma);
  b.out(ArgKind::Grad, "beta", dbeta);
  return b.fn;
}

class FirstLayerPoolGrad : public ::testing::TestWithParam<Layer> {};

TEST_P(FirstLayerPoolGrad, MatchesFindingTheMaximaAgain) {
  const Layer l = GetParam();
  mtl::kg::Function fn = firstLayerStep(l, true);
  // The gamma pass visits the windows; the argmax is computed in the pool's
  // segment, as one of its outputs.
  bool windows = false;
  for (const Segment &s : segmentFunction(fn).segments)
    for (const mtl::kg::Node &n : s.fn.nodes)
      if (n.op == "batch_norm_grad_gamma")
        windows = reachesA(reachedFuncs(s.fn), "pool_sums");
  EXPECT_TRUE(windows);
  EXPECT_TRUE(inOneSegment(fn, "max_pool", "max_pool_argmax"));
  expectSegmentedMatchesWhole(fn);

  // The same step without the argmax: the same values.
  mtl::kg::Function again = firstLayerStep(l, false);
  std::vector<HostTensor> args = randomArgs(fn, 3);
  std::vector<HostTensor> a = runSegmented(fn, segmentFunction(fn), args);
  std::vector<HostTensor> b = runSegmented(again, segmentFunction(again), args);
  // Summed in another order: a looser bound than the segments'.
  expectOutputsNear(fn, a, b, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Layers, FirstLayerPoolGrad,
                         ::testing::Values(Layer{16, true, 2},
                                           Layer{16, false, 2},
                                           Layer{32, true, 3},
                                           Layer{12, true, 2}));

} // namespace
