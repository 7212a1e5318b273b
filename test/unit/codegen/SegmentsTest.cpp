//===- SegmentsTest.cpp - which nodes share a segment ---------------------===//
//
// The batch norm's backward totals (codegen/ops/TrainMode.cpp) need their
// producer and the bias_grad that reads them in one segment, and a segment
// copy of a batch_norm_backward_input whose total is in closed form marked,
// since the segment no longer holds the producers that prove it. A
// max_pool_grad read only by the batch-norm gradients below it is computed
// inline in their segment, a first layer's conv read only by its batch norm
// and an upsample read only by padded convs are recomputed in their
// readers, a reshape of a stored value is a view of its slot, and the
// segmented step computes what the whole function computes.
//
//===----------------------------------------------------------------------===//
#include "codegen/Segments.h"
#include "TestUtil.h"
#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl;
using codegen::test::expectSegmentedMatchesWhole;
using codegen::test::reachedFuncs;
using codegen::test::reachesA;

namespace {

struct Builder {
  kg::Function fn;
  int value(std::vector<int64_t> shape) {
    fn.values.push_back({kg::DType::F32, std::move(shape)});
    return static_cast<int>(fn.values.size()) - 1;
  }
  int arg(kg::ArgKind kind, const std::string &name,
          std::vector<int64_t> shape) {
    int v = value(std::move(shape));
    fn.args.push_back({kind, name, v});
    return v;
  }
  int node(const std::string &op, std::vector<int> inputs,
           std::vector<int64_t> shape) {
    kg::Node n;
    n.op = op;
    n.inputs = std::move(inputs);
    n.result = value(std::move(shape));
    fn.nodes.push_back(n);
    return n.result;
  }
  void output(const std::string &name, int v) {
    fn.outputs.push_back({kg::ArgKind::Grad, name, v});
  }
};

/// The segment holding the node that produces `v`.
const codegen::Segment *segmentOf(const codegen::SegmentedFunction &sf, int v) {
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      if (n.result == v)
        return &s;
  return nullptr;
}

/// Whether `v` has a slot in the arena, i.e. is stored between segments.
bool inArena(const codegen::SegmentedFunction &sf, int v) {
  return sf.homes[v].kind == codegen::ValueHome::Arena &&
         sf.homes[v].offset >= 0;
}

/// `v` is no segment's output and has no arena slot.
void expectStoredNowhere(const codegen::SegmentedFunction &sf, int v) {
  for (const codegen::Segment &s : sf.segments)
    for (int out : s.outs)
      EXPECT_NE(out, v);
  EXPECT_FALSE(inArena(sf, v));
}

/// No segment computes anything inline.
void expectNothingInline(const codegen::SegmentedFunction &sf) {
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      EXPECT_FALSE(n.ints.count("mtl.inline")) << n.op;
}

/// A conv bias before a batch norm, as autodiff emits its gradients; with
/// `batchStats` false the statistics are an argument instead.
struct BatchNormBackward {
  Builder b;
  int dgamma, dbeta, dx, dbias, after;
  explicit BatchNormBackward(bool batchStats) {
    const std::vector<int64_t> s = {4, 3, 3, 2};
    int x = b.arg(kg::ArgKind::Input, "x", s);
    int dy = b.arg(kg::ArgKind::Target, "dy", s);
    int gamma = b.arg(kg::ArgKind::Param, "gamma", {2});
    int stats = batchStats ? b.node("batch_stats", {x}, {2, 2})
                           : b.arg(kg::ArgKind::State, "stats", {2, 2});
    dgamma = b.node("batch_norm_grad_gamma", {dy, x, stats}, {2});
    dbeta = b.node("bias_grad", {dy}, {2});
    dx = b.node("batch_norm_backward_input",
                {dy, x, stats, gamma, dgamma, dbeta}, s);
    dbias = b.node("bias_grad", {dx}, {2});
    after = b.node("relu", {dx}, s);
    for (auto [name, v] : {std::pair{"gamma", dgamma},
                           {"beta", dbeta},
                           {"bias", dbias},
                           {"after", after}})
      b.output(name, v);
  }
};

} // namespace

TEST(Segments, BatchNormTotalsShareTheirSegments) {
  BatchNormBackward g(true);
  const kg::Node &bn = g.b.fn.nodes[3]; // batch_norm_backward_input
  ASSERT_EQ(bn.op, "batch_norm_backward_input");
  EXPECT_TRUE(codegen::hasClosedFormTotal(g.b.fn, bn));
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  // dgamma and dbeta: one pass over dy.
  EXPECT_EQ(segmentOf(sf, g.dgamma), segmentOf(sf, g.dbeta));
  // dx and the bias gradient taken from it in closed form, marked.
  const codegen::Segment *s = segmentOf(sf, g.dx);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s, segmentOf(sf, g.dbias));
  EXPECT_NE(s, segmentOf(sf, g.after));
  for (const kg::Node &n : s->fn.nodes)
    if (n.op == "batch_norm_backward_input") {
      EXPECT_TRUE(n.ints.count("mtl.closed_total"));
      // The mark alone proves it once the producers are elsewhere.
      EXPECT_TRUE(codegen::hasClosedFormTotal(s->fn, n));
    }
}

TEST(Segments, NoClosedFormWithoutTheBatchStatistics) {
  // Statistics from elsewhere (not the batch_stats of x): sum(x) is not M
  // mean, so the bias gradient needs its own pass and no mark is set.
  BatchNormBackward g(false);
  const kg::Node &bn = g.b.fn.nodes[2];
  ASSERT_EQ(bn.op, "batch_norm_backward_input");
  EXPECT_FALSE(codegen::hasClosedFormTotal(g.b.fn, bn));
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      EXPECT_FALSE(n.ints.count("mtl.closed_total")) << n.op;
  EXPECT_EQ(segmentOf(sf, g.dgamma), segmentOf(sf, g.dbeta));
}

namespace {

/// The backward pass of conv -> batch_norm -> relu -> max_pool, from the
/// pooled gradient down: the gather's dy feeds dgamma, dbeta and dx.
struct PoolBatchNormBackward {
  codegen::test::Builder b{"pool_bn_backward"};
  int dy = -1, dgamma, dbeta, dx, dbias;
  int y = -1, pooled = -1;
  int conv = -1, dw = -1;
  /// `forward`: y = relu(batch_norm_train(conv_out)) and its max pool are
  /// computed too (else y is an argument); `firstConv`: conv_out is a 3 x 3
  /// conv (padding 1) of a one-channel image (else an argument);
  /// `gradFilter` (with firstConv): dx is read by the conv's grad-filter,
  /// not an output.
  PoolBatchNormBackward(int64_t k, int64_t stride, int64_t pad, bool dyIsOutput,
                        bool forward = false, bool firstConv = false,
                        bool gradFilter = false, int64_t C = 16) {
    using kg::ArgKind;
    const int64_t N = 4, H = 8, P = (H + 2 * pad - k) / stride + 1;
    const std::map<std::string, std::vector<int64_t>> pool = {
        {"kernel", {k, k}},
        {"stride", {stride, stride}},
        {"padding", {pad, pad}}};
    int xbn, img = -1;
    if (firstConv) {
      img = b.arg(ArgKind::Input, "image", {N, H, H, 1});
      int w = b.arg(ArgKind::Param, "w", {3, 3, 1, C});
      int cb = b.arg(ArgKind::Param, "conv_bias", {C});
      xbn = conv = b.op("conv2d", {img, w, cb}, {N, H, H, C},
                        {{"padding", {1, 1}}, {"stride", {1, 1}}});
    } else {
      xbn = b.arg(ArgKind::Input, "conv_out", {N, H, H, C});
    }
    int dp = b.arg(ArgKind::Target, "pooled_grad", {N, P, P, C});
    int gamma = b.arg(ArgKind::Param, "gamma", {C});
    int stats = b.op("batch_stats", {xbn}, {2, C});
    if (forward) {
      int beta = b.arg(ArgKind::Param, "beta", {C});
      int bn =
          b.op("batch_norm_train", {xbn, stats, gamma, beta}, {N, H, H, C});
      y = b.op("relu", {bn}, {N, H, H, C}, {{"mtl.fused_epilogue", {1}}});
      pooled = b.op("max_pool", {y}, {N, P, P, C}, pool);
      b.out(ArgKind::Prediction, "pooled", pooled);
    } else {
      y = b.arg(ArgKind::Input, "relu_out", {N, H, H, C});
    }
    int mp = b.op("max_pool_grad", {dp, y}, {N, H, H, C}, pool);
    dy =
        b.op("relu_grad", {mp, y}, {N, H, H, C}, {{"mtl.fused_epilogue", {1}}});
    dgamma = b.op("batch_norm_grad_gamma", {dy, xbn, stats}, {C});
    dbeta = b.op("bias_grad", {dy}, {C});
    dx = b.op("batch_norm_backward_input",
              {dy, xbn, stats, gamma, dgamma, dbeta}, {N, H, H, C});
    dbias = b.op("bias_grad", {dx}, {C});
    b.out(kg::ArgKind::Grad, "gamma", dgamma);
    b.out(kg::ArgKind::Grad, "beta", dbeta);
    b.out(kg::ArgKind::Grad, "bias", dbias);
    if (gradFilter) {
      dw = b.op("conv2d_backward_filter", {img, dx}, {3, 3, 1, C},
                {{"padding", {1, 1}}, {"stride", {1, 1}}});
      b.out(kg::ArgKind::Grad, "w", dw);
    } else {
      b.out(kg::ArgKind::Prediction, "dx", dx);
    }
    if (dyIsOutput)
      b.out(kg::ArgKind::Prediction, "dy", dy);
  }
};

} // namespace

TEST(Segments, PoolGradientInlinedInTheBatchNormGradients) {
  // 2x2 / stride 2 (windows tile the input) and 3x3 / stride 2 / padding 1
  // (they overlap: the generic gather).
  for (auto [k, stride, pad] : {std::tuple{2, 2, 0}, std::tuple{3, 2, 1}}) {
    PoolBatchNormBackward g(k, stride, pad, false);
    codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
    const codegen::Segment *s = segmentOf(sf, g.dx);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s, segmentOf(sf, g.dy));
    EXPECT_EQ(s, segmentOf(sf, g.dgamma));
    EXPECT_EQ(s, segmentOf(sf, g.dbeta));
    int marked = 0;
    for (const kg::Node &n : s->fn.nodes)
      marked += n.ints.count("mtl.inline") > 0;
    EXPECT_EQ(marked, 2) << "max_pool_grad and its relu_grad";
    // The full-size dy has no arena slot: it is never stored.
    EXPECT_FALSE(inArena(sf, g.dy));
    expectSegmentedMatchesWhole(g.b.fn);
  }
}

TEST(Segments, NothingInlinedWhenInliningIsOff) {
  // mtlc build --no-fuse-inline: every result stored, the same values.
  PoolBatchNormBackward g(2, 2, 0, false, /*forward=*/true);
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn, false);
  expectNothingInline(sf);
  EXPECT_NE(segmentOf(sf, g.dy), segmentOf(sf, g.dx));
  EXPECT_NE(segmentOf(sf, g.y), segmentOf(sf, g.pooled));
}

TEST(Segments, PoolGradientStoredWhereSomethingElseReadsIt) {
  // dy is also an output: it must be stored, so nothing is inlined.
  PoolBatchNormBackward g(2, 2, 0, true);
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  expectNothingInline(sf);
  EXPECT_NE(segmentOf(sf, g.dy), segmentOf(sf, g.dx));
  expectSegmentedMatchesWhole(g.b.fn);
}

TEST(Segments, BatchNormRecomputedWhereThePoolAndItsGradientReadIt) {
  for (auto [k, stride, pad] : {std::tuple{2, 2, 0}, std::tuple{3, 2, 1}}) {
    PoolBatchNormBackward g(k, stride, pad, false, /*forward=*/true);
    codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
    // y (the batch norm's relu) is computed in the pool's segment and again
    // in the backward one, inline in both, and stored nowhere.
    int copies = 0;
    for (const codegen::Segment &s : sf.segments)
      for (const kg::Node &n : s.fn.nodes)
        if (n.op == "batch_norm_train" || n.op == "relu") {
          EXPECT_TRUE(n.ints.count("mtl.inline")) << n.op;
          copies += n.op == "relu";
        }
    EXPECT_EQ(copies, 2);
    expectStoredNowhere(sf, g.y);
    EXPECT_EQ(segmentOf(sf, g.dx), segmentOf(sf, g.dgamma));
    expectSegmentedMatchesWhole(g.b.fn);
  }
}

TEST(Segments, FirstConvRecomputedInTheBatchNormThatReadsIt) {
  // A first layer's conv (one input channel, 3 x 3 taps) read only by the
  // batch norm after it (statistics, normalization, gamma and input
  // gradients) is recomputed in every segment that reads it and stored
  // nowhere.
  PoolBatchNormBackward g(2, 2, 0, false, /*forward=*/true, /*firstConv=*/true);
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  int copies = 0;
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      if (n.op == "conv2d") {
        EXPECT_TRUE(n.ints.count("mtl.inline"));
        ++copies;
      }
  EXPECT_GE(copies, 2);
  expectStoredNowhere(sf, g.conv);
  // Its batch statistics come from the image's patch moments
  // (FirstConvMoments.cpp): no pass over the conv's output.
  // The max pool after it folds the batch norm into the conv's filter
  // (FirstLayerPool.cpp).
  int pools = 0;
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes) {
      if (n.op == "batch_stats") {
        std::set<std::string> f = reachedFuncs(s.fn);
        EXPECT_TRUE(reachesA(f, "moments"));
        EXPECT_FALSE(reachesA(f, "batch_stats_sums"));
      }
      if (n.op == "max_pool") {
        EXPECT_TRUE(reachesA(reachedFuncs(s.fn), "folded_w"));
        ++pools;
      }
    }
  EXPECT_EQ(pools, 1);
  expectSegmentedMatchesWhole(g.b.fn);
  // Without inlining the conv is a kernel of its own.
  expectNothingInline(codegen::segmentFunction(g.b.fn, false));
}

class FirstLayerGradFilter : public ::testing::TestWithParam<int64_t> {};

TEST_P(FirstLayerGradFilter, MakesItsInputGradientPerImage) {
  // The first layer's batch-norm input gradient, read only by the conv's
  // grad-filter and its bias_grad (closed form), joins the grad-filter's
  // segment inline and is stored nowhere. 16 channels: the whole-filter
  // register tile, staged per image; 12: no vector tile (the generic one),
  // staged once per call.
  PoolBatchNormBackward g(2, 2, 0, false, /*forward=*/true, /*firstConv=*/true,
                          /*gradFilter=*/true, GetParam());
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  const codegen::Segment *s = segmentOf(sf, g.dw);
  ASSERT_NE(s, nullptr);
  bool marked = false;
  for (const kg::Node &n : s->fn.nodes)
    if (n.op == "batch_norm_backward_input")
      marked = n.ints.count("mtl.inline") > 0;
  EXPECT_TRUE(marked);
  EXPECT_EQ(s, segmentOf(sf, g.dbias));
  expectStoredNowhere(sf, g.dx);
  // With the gamma pass in the same segment, the grad-filter comes from the
  // patch moments and the gamma pass's tap sums (FirstConvMoments.cpp): no
  // pass of its own over dx.
  EXPECT_EQ(s, segmentOf(sf, g.dgamma));
  std::set<std::string> f = reachedFuncs(s->fn);
  EXPECT_TRUE(reachesA(f, "moments"));
  EXPECT_FALSE(reachesA(f, "conv2d_backward_filter_part"));
  expectSegmentedMatchesWhole(g.b.fn);
  // Without inlining dx is a kernel's output read by the grad-filter.
  expectNothingInline(codegen::segmentFunction(g.b.fn, false));
}
INSTANTIATE_TEST_SUITE_P(Channels, FirstLayerGradFilter,
                         ::testing::Values(16, 12));

TEST(Segments, HeadGradInputsSummedByTheirJoin) {
  // Three heads read one feature x (N x K); the join sums their dx and an
  // other gradient g. The two large grad-inputs become updates of the
  // join's accumulator (never stored); the small one (M = 16: too short to
  // block) is computed as usual and, like g, starts the accumulator.
  using kg::ArgKind;
  const int64_t N = 32, K = 512;
  codegen::test::Builder b{"heads_backward"};
  int g = b.arg(ArgKind::Input, "g", {N, K});
  std::vector<int> dxs;
  for (int64_t M : {256, 320, 16}) {
    std::string h = "h" + std::to_string(M);
    int dy = b.arg(ArgKind::Target, "dy_" + h, {N, M});
    int w = b.arg(ArgKind::Param, "w_" + h, {K, M});
    dxs.push_back(b.op("dense_backward_input", {dy, w}, {N, K}));
  }
  int sum = b.op("join", {dxs[0], g, dxs[1], dxs[2]}, {N, K});
  b.out(ArgKind::Grad, "x", sum);
  codegen::SegmentedFunction sf = codegen::segmentFunction(b.fn);
  const codegen::Segment *s = segmentOf(sf, sum);
  ASSERT_NE(s, nullptr);
  for (int dx : dxs) {
    EXPECT_EQ(s, segmentOf(sf, dx));
    EXPECT_FALSE(inArena(sf, dx));
  }
  int marked = 0;
  for (const kg::Node &n : s->fn.nodes)
    marked += n.ints.count("mtl.inline") > 0;
  EXPECT_EQ(marked, 3);
  expectSegmentedMatchesWhole(b.fn);
  // Without inlining every dx is its own kernel and the join a sum.
  codegen::SegmentedFunction off = codegen::segmentFunction(b.fn, false);
  EXPECT_EQ(off.segments.size(), 4u);
}

TEST(Segments, UpsampleRecomputedInThePaddedConvsThatReadIt) {
  // A decoder's last layer: x (N x 7 x 7 x 16) upsampled to 14 x 14 and
  // convolved (padding 1) to one channel; the backward pass reads the
  // upsampled tensor again for the grad-filter. Both convs stage a padded
  // copy per image, so the upsample is recomputed in each of them and the
  // upsampled tensor is stored nowhere. Read by an unpadded conv (no staged
  // copy), it stays a kernel of its own.
  using kg::ArgKind;
  for (int64_t pad : {1, 0}) {
    const int64_t N = 4, H = 7, C = 16, U = 2 * H, Ho = U + 2 * pad - 2;
    codegen::test::Builder b{"decoder"};
    int x = b.arg(ArgKind::Input, "x", {N, H, H, C});
    int w = b.arg(ArgKind::Param, "w", {3, 3, C, 1});
    int dy = b.arg(ArgKind::Target, "dy", {N, Ho, Ho, 1});
    int up = b.op("upsample_nearest", {x}, {N, U, U, C}, {{"scale", {2, 2}}});
    int y = b.op("conv2d", {up, w}, {N, Ho, Ho, 1}, {{"padding", {pad, pad}}});
    int dw = b.op("conv2d_backward_filter", {up, dy}, {3, 3, C, 1},
                  {{"padding", {pad, pad}}});
    b.out(ArgKind::Prediction, "y", y);
    b.out(ArgKind::Grad, "w", dw);
    codegen::SegmentedFunction sf = codegen::segmentFunction(b.fn);
    int copies = 0;
    for (const codegen::Segment &s : sf.segments)
      for (const kg::Node &n : s.fn.nodes)
        if (n.op == "upsample_nearest") {
          ++copies;
          EXPECT_EQ(n.ints.count("mtl.inline") > 0, pad > 0);
        }
    const bool stored = inArena(sf, up);
    if (pad > 0) {
      EXPECT_EQ(copies, 2);
      EXPECT_FALSE(stored);
      EXPECT_EQ(sf.segments.size(), 2u);
    } else {
      EXPECT_EQ(copies, 1);
      EXPECT_TRUE(stored);
      EXPECT_EQ(sf.segments.size(), 3u);
    }
    expectSegmentedMatchesWhole(b.fn);
  }
}

TEST(Segments, ReshapeOfAStoredValueIsAView) {
  // A backbone flattened for a dense head, and the head's output reshaped
  // back: neither reshape is a kernel; each view shares its base's arena
  // slot, which lives while the view is read (tmp, made in between, gets
  // another). A reshape of an argument stays a kernel.
  using kg::ArgKind;
  const int64_t N = 4;
  codegen::test::Builder b{"views"};
  int x = b.arg(ArgKind::Input, "x", {N, 5, 5, 8});
  int w = b.arg(ArgKind::Param, "w", {200, 16});
  int act = b.op("relu", {x}, {N, 5, 5, 8});
  int flat = b.op("reshape", {act}, {N, 200});
  int tmp = b.op("relu", {x}, {N, 5, 5, 8});
  int y = b.op("dense", {flat, w}, {N, 16});
  int back = b.op("reshape", {y}, {N, 4, 4});
  int xflat = b.op("reshape", {x}, {N, 200});
  int z = b.op("relu", {back}, {N, 4, 4});
  int t2 = b.op("relu", {tmp}, {N, 5, 5, 8});
  b.out(ArgKind::Prediction, "z", z);
  b.out(ArgKind::Prediction, "t2", t2);
  b.out(ArgKind::Prediction, "xflat", xflat);
  codegen::SegmentedFunction sf = codegen::segmentFunction(b.fn);
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      if (n.op == "reshape")
        EXPECT_EQ(n.result, xflat) << "a view computed by a kernel";
  ASSERT_EQ(sf.views.size(), 2u);
  EXPECT_EQ(sf.views.at(flat), act);
  EXPECT_EQ(sf.views.at(back), y);
  for (int v : {flat, back}) {
    ASSERT_TRUE(inArena(sf, v));
    EXPECT_EQ(sf.homes[v].offset, sf.homes[sf.views.at(v)].offset);
  }
  ASSERT_TRUE(inArena(sf, tmp));
  EXPECT_NE(sf.homes[tmp].offset, sf.homes[act].offset);
  EXPECT_FALSE(sf.views.count(xflat));
  expectSegmentedMatchesWhole(b.fn);
}

TEST(Segments, LastGradInputRecomputedInTheUpsampleGradient) {
  // A decoder's last layer, backward: dy has one channel, the grad-input
  // (3 x 3 taps, 9 products per element) is read only by the gradient of
  // the upsample before the conv, which sums 2 x 2 blocks of it: it is
  // recomputed there and stored nowhere. Read by something else too, it
  // stays a kernel of its own and is stored.
  using kg::ArgKind;
  for (bool alsoRead : {false, true}) {
    const int64_t N = 4, H = 14, C = 16;
    codegen::test::Builder b{"decoder_backward"};
    int dy = b.arg(ArgKind::Target, "dy", {N, H, H, 1});
    int w = b.arg(ArgKind::Param, "w", {3, 3, C, 1});
    int dx = b.op("conv2d_backward_input", {dy, w}, {N, H, H, C},
                  {{"padding", {1, 1}}});
    int dsmall = b.op("upsample_grad_nearest", {dx}, {N, H / 2, H / 2, C},
                      {{"scale", {2, 2}}});
    b.out(ArgKind::Grad, "x", dsmall);
    if (alsoRead)
      b.out(ArgKind::Prediction, "r", b.op("relu", {dx}, {N, H, H, C}));
    codegen::SegmentedFunction sf = codegen::segmentFunction(b.fn);
    const codegen::Segment *s = segmentOf(sf, dsmall);
    ASSERT_NE(s, nullptr);
    bool inlineCopy = false;
    for (const kg::Node &n : s->fn.nodes)
      inlineCopy |=
          n.op == "conv2d_backward_input" && n.ints.count("mtl.inline");
    EXPECT_EQ(inlineCopy, !alsoRead);
    if (alsoRead) {
      EXPECT_TRUE(inArena(sf, dx));
    } else {
      expectStoredNowhere(sf, dx);
      EXPECT_EQ(sf.segments.size(), 1u);
    }
    expectSegmentedMatchesWhole(b.fn);
  }
}

TEST(Segments, HeadTailsShareOnePipeline) {
  // Two heads over shared features: each a wide first layer (big products)
  // and a 10- or 4-wide last one, its loss and the gradients back to the
  // first layer's. With mergeSmall the tails (last products, losses, their
  // gradients, the relu gradients and bias sums) are one segment, the wide
  // products and the join keep theirs, and the step computes the same.
  using kg::ArgKind;
  const int64_t N = 32, F = 2048, U1 = 64, U2 = 32;
  codegen::test::Builder b{"heads"};
  int x = b.arg(ArgKind::Input, "features", {N, F});
  int tA = b.arg(ArgKind::Target, "label", {N}, kg::DType::I32);
  int mA = b.arg(ArgKind::Mask, "label", {N});
  int tB = b.arg(ArgKind::Target, "group", {N}, kg::DType::I32);
  int mB = b.arg(ArgKind::Mask, "group", {N});
  int wa = b.arg(ArgKind::Param, "a_fc.w", {F, U1});
  int ba = b.arg(ArgKind::Param, "a_fc.b", {U1});
  int wa2 = b.arg(ArgKind::Param, "a_out.w", {U1, 10});
  int wb = b.arg(ArgKind::Param, "b_fc.w", {F, U2});
  int wb2 = b.arg(ArgKind::Param, "b_out.w", {U2, 4});
  int ha = b.op("dense", {x, wa, ba}, {N, U1});
  int hra = b.op("relu", {ha}, {N, U1}, {{"mtl.fused_epilogue", {1}}});
  int la = b.op("dense", {hra, wa2}, {N, 10});
  int hb = b.op("dense", {x, wb}, {N, U2});
  int hrb = b.op("relu", {hb}, {N, U2}, {{"mtl.fused_epilogue", {1}}});
  int lb = b.op("dense", {hrb, wb2}, {N, 4});
  int lossA = b.op("softmax_cross_entropy", {la, tA, mA}, {});
  int lossB = b.op("softmax_cross_entropy", {lb, tB, mB}, {});
  int dla = b.op("softmax_cross_entropy_grad", {la, tA, mA}, {N, 10});
  int dlb = b.op("softmax_cross_entropy_grad", {lb, tB, mB}, {N, 4});
  int dwa2 = b.op("dense_backward_weight", {hra, dla}, {U1, 10});
  int dhra = b.op("dense_backward_input", {dla, wa2}, {N, U1});
  int dha = b.op("relu_grad", {dhra, hra}, {N, U1});
  int dwa = b.op("dense_backward_weight", {x, dha}, {F, U1});
  int dba = b.op("bias_grad", {dha}, {U1});
  int dxa = b.op("dense_backward_input", {dha, wa}, {N, F});
  int dwb2 = b.op("dense_backward_weight", {hrb, dlb}, {U2, 4});
  int dhrb = b.op("dense_backward_input", {dlb, wb2}, {N, U2});
  int dhb = b.op("relu_grad", {dhrb, hrb}, {N, U2});
  int dwb = b.op("dense_backward_weight", {x, dhb}, {F, U2});
  int dxb = b.op("dense_backward_input", {dhb, wb}, {N, F});
  int dx = b.op("join", {dxa, dxb}, {N, F});
  b.out(ArgKind::Loss, "label", lossA);
  b.out(ArgKind::Loss, "group", lossB);
  b.out(ArgKind::Prediction, "label", la);
  b.out(ArgKind::Prediction, "group", lb);
  for (auto [name, v] : {std::pair{"a_fc.w", dwa},
                         {"a_fc.b", dba},
                         {"a_out.w", dwa2},
                         {"b_fc.w", dwb},
                         {"b_out.w", dwb2},
                         {"features", dx}})
    b.out(ArgKind::Grad, name, v);

  codegen::SegmentedFunction apart = codegen::segmentFunction(b.fn);
  codegen::SegmentedFunction sf = codegen::segmentFunction(b.fn, true, true);
  const codegen::Segment *tail = segmentOf(sf, la);
  ASSERT_NE(tail, nullptr);
  for (int v :
       {lb, lossA, lossB, dla, dlb, dwa2, dwb2, dhra, dhrb, dha, dhb, dba})
    EXPECT_EQ(segmentOf(sf, v), tail) << "value " << v;
  for (int v : {ha, hb, dwa, dwb, dx})
    EXPECT_NE(segmentOf(sf, v), tail) << "value " << v;
  // The two first layers, their weight gradients, the join, the tail.
  EXPECT_EQ(sf.segments.size(), 6u);
  EXPECT_GT(apart.segments.size(), 12u);
  // The tail's intermediates (the last layers' input gradients) are not
  // stored; what the wide products read is.
  EXPECT_FALSE(inArena(sf, dhra));
  EXPECT_TRUE(inArena(sf, dha));
  expectSegmentedMatchesWhole(b.fn, /*mergeSmall=*/true);
}
