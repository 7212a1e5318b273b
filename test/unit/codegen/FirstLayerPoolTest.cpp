//===- FirstLayerPoolTest.cpp - a first layer's forward in one pass -------===//
//
// conv (one input channel, 3 x 3) -> batch_norm_train (-> relu) -> max_pool,
// the conv recomputed in the batch norm's segment (or, in an eval step, the
// inference batch_norm and relu fused into the conv as its epilogue and
// the chain recomputed in the pool's segment): where the pool's windows
// tile its input and the channels fill whole vectors, the pool folds the
// batch norm into the filter and runs the taps outer
// (codegen/ops/FirstLayerPool.cpp); elsewhere the pool evaluates its input
// as written. Either way the segmented step matches the unsegmented one
// (its only output, the pooled tensor, sets the tolerance).
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
  int64_t pool, stride;
  bool inference = false; // batch_norm with running statistics
};

std::ostream &operator<<(std::ostream &os, const Layer &l) {
  return os << l.C << " channels, " << (l.inference ? "inference, " : "")
            << (l.relu ? "relu, " : "") << "pool " << l.pool << " stride "
            << l.stride;
}

class FirstLayerPool : public ::testing::TestWithParam<Layer> {};

TEST_P(FirstLayerPool, MatchesTheUnfusedForward) {
  const Layer l = GetParam();
  const int64_t N = 3, H = 12, P = (H - l.pool) / l.stride + 1;
  Builder b("first_layer");
  int img = b.arg(ArgKind::Input, "image", {N, H, H, 1});
  int w = b.arg(ArgKind::Param, "w", {3, 3, 1, l.C});
  int cb = b.arg(ArgKind::Param, "conv_bias", {l.C});
  int gamma = b.arg(ArgKind::Param, "gamma", {l.C});
  int beta = b.arg(ArgKind::Param, "beta", {l.C});
  int conv = b.op("conv2d", {img, w, cb}, {N, H, H, l.C},
                  {{"padding", {1, 1}}, {"stride", {1, 1}}});
  int y;
  if (l.inference) {
    int mean = b.arg(ArgKind::State, "running_mean", {l.C});
    int var = b.arg(ArgKind::State, "running_var", {l.C});
    y = b.op("batch_norm", {conv, gamma, beta, mean, var}, {N, H, H, l.C},
             {{"mtl.fused_epilogue", {1}}});
  } else {
    int stats = b.op("batch_stats", {conv}, {2, l.C});
    y = b.op("batch_norm_train", {conv, stats, gamma, beta}, {N, H, H, l.C});
  }
  if (l.relu)
    y = b.op("relu", {y}, {N, H, H, l.C}, {{"mtl.fused_epilogue", {1}}});
  int pooled = b.op("max_pool", {y}, {N, P, P, l.C},
                    {{"kernel", {l.pool, l.pool}},
                     {"stride", {l.stride, l.stride}},
                     {"padding", {0, 0}}});
  b.out(ArgKind::Prediction, "pooled", pooled);

  const bool tiles = l.pool == l.stride;
  const bool vectors = l.C % 8 == 0; // reachedFuncs lowers for AVX2
  bool folded = false;
  for (const Segment &s : segmentFunction(b.fn).segments)
    for (const mtl::kg::Node &n : s.fn.nodes)
      if (n.op == "max_pool")
        folded = reachesA(reachedFuncs(s.fn), "folded_w");
  EXPECT_EQ(folded, tiles && vectors);
  if (l.inference) { // the conv's output stored nowhere
    for (const Segment &s : segmentFunction(b.fn).segments)
      for (int v : s.outs)
        EXPECT_EQ(v, pooled);
  }
  expectSegmentedMatchesWhole(b.fn);
}

INSTANTIATE_TEST_SUITE_P(
    Layers, FirstLayerPool,
    ::testing::Values(Layer{16, true, 2, 2}, Layer{16, false, 2, 2},
                      Layer{32, true, 3, 3}, Layer{16, true, 3, 2},
                      Layer{12, true, 2, 2}, Layer{16, true, 2, 2, true},
                      Layer{16, false, 2, 2, true},
                      Layer{16, true, 3, 2, true}));

} // namespace
