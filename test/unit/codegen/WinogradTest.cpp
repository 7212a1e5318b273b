//===- WinogradTest.cpp - 3x3 convs by Winograd's F(2x2) and F(4x4) -----===//
//
// Which convs take the Winograd path (codegen/ops/Winograd.cpp), and that
// it computes what the direct conv computes (the same function with
// kg::markDirectConvs) with bias, a fused epilogue, asymmetric or no
// padding, on the register tiles of each instruction set the host runs.
// OpsTest checks the same shapes against naive loops.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"
#include "codegen/Isa.h"
#include "codegen/Lowering.h"
#include "codegen/ops/CnnOps.h"

#include <Halide.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

struct Shape3x3 {
  int N, H, W, Ci, Co, ph, pw;
  int Ho() const { return H + 2 * ph - 2; }
  int Wo() const { return W + 2 * pw - 2; }
  std::map<std::string, std::vector<int64_t>> ints() const {
    return {{"stride", {1, 1}}, {"padding", {ph, pw}}};
  }
};

/// conv2d (+ bias, + a fused relu), conv2d_backward_input and
/// conv2d_backward_filter of one shape.
mtl::kg::Function convAndGrads(const Shape3x3 &s, bool relu = true) {
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {s.N, s.H, s.W, s.Ci});
  int w = b.arg(ArgKind::Param, "w", {3, 3, s.Ci, s.Co});
  int bias = b.arg(ArgKind::Param, "b", {s.Co});
  int dy = b.arg(ArgKind::Input, "dy", {s.N, s.Ho(), s.Wo(), s.Co});
  int y = b.op("conv2d", {x, w, bias}, {s.N, s.Ho(), s.Wo(), s.Co}, s.ints());
  if (relu)
    y = b.op("relu", {y}, {s.N, s.Ho(), s.Wo(), s.Co},
             {{"mtl.fused_epilogue", {1}}});
  int dx =
      b.op("conv2d_backward_input", {dy, w}, {s.N, s.H, s.W, s.Ci}, s.ints());
  int dw =
      b.op("conv2d_backward_filter", {x, dy}, {3, 3, s.Ci, s.Co}, s.ints());
  b.out(ArgKind::Prediction, "y", y);
  b.out(ArgKind::Grad, "x", dx);
  b.out(ArgKind::Grad, "w", dw);
  return b.fn;
}

/// How many of `fn`'s outputs are computed through Winograd's GEMMs when
/// lowered for instruction set `isa`.
int winogradOutputs(const mtl::kg::Function &fn, const std::string &isa) {
  LoweredFunction lf = lowerFunction(fn, isaTarget(isa));
  int count = 0;
  for (const Halide::Func &out : lf.outputs) {
    bool found = false;
    for (const auto &[name, f] :
         Halide::Internal::find_transitive_calls(out.function()))
      found = found || name.find("wino_m") != std::string::npos;
    count += found;
  }
  return count;
}

TEST(Winograd, TakenBy3x3Stride1ConvsWithWholeTiles) {
  for (const char *isa : {"avx512", "avx2", "sse41"}) {
    SCOPED_TRACE(isa);
    // The reference network's conv2 and conv3, forward and both gradients.
    EXPECT_EQ(winogradOutputs(convAndGrads({2, 20, 20, 32, 64, 1, 1}), isa), 3);
    EXPECT_EQ(winogradOutputs(convAndGrads({2, 10, 10, 64, 128, 1, 1}), isa),
              3);
    // recon_conv1: a row of 7 tiles (one co vector x 7 tiles with AVX2).
    EXPECT_EQ(winogradOutputs(convAndGrads({2, 14, 14, 32, 16, 1, 1}), isa), 3);
    {
      // Which tiles: 20 x 20 in whole 4 x 4 ones; 10 x 10 in 2 x 2 ones
      // (3 x 3 overhanging 4 x 4 tiles would leave a 2 x 3 register tile);
      // 14 x 14 with 16 channels in 4 x 4 tiles that overhang it, 576
      // points per channel pair against 784, where 16 registers give 2 x 7
      // no room (AVX2, SSE4.1: 2 x 4 accumulators against 1 x 7); AVX-512
      // has it.
      mtl::codegen::IsaScope scope(mtl::codegen::isaTarget(isa));
      EXPECT_EQ(mtl::codegen::winogradOutputTile(64, 20, 20), 4);
      EXPECT_EQ(mtl::codegen::winogradOutputTile(128, 10, 10), 2);
      EXPECT_EQ(mtl::codegen::winogradOutputTile(16, 14, 14),
                std::string(isa) == "avx512" ? 2 : 4);
      EXPECT_EQ(mtl::codegen::winogradOutputTile(16, 6, 14),
                std::string(isa) == "avx512" ? 2 : 4);
      EXPECT_EQ(mtl::codegen::winogradOutputTile(64, 9, 9), 0);
    }
    // An odd output width: tiles of 2 x 2 outputs do not cover it.
    EXPECT_EQ(winogradOutputs(convAndGrads({2, 9, 9, 32, 64, 1, 1}), isa), 0);
    // A first layer (one input channel) and a one-channel output: a
    // channel vector short; the grad-input of the first is a one-channel
    // output too.
    EXPECT_EQ(winogradOutputs(convAndGrads({2, 8, 8, 1, 32, 1, 1}), isa), 0);
    // Stride 2.
    Shape3x3 s{2, 8, 8, 32, 64, 1, 1};
    Builder b;
    int x = b.arg(ArgKind::Input, "x", {2, 8, 8, 32});
    int w = b.arg(ArgKind::Param, "w", {3, 3, 32, 64});
    int y = b.op("conv2d", {x, w}, {2, 4, 4, 64},
                 {{"stride", {2, 2}}, {"padding", {1, 1}}});
    b.out(ArgKind::Prediction, "y", y);
    EXPECT_EQ(winogradOutputs(b.fn, isa), 0);
    // Marked direct (mtlc build --no-winograd).
    mtl::kg::Function direct = convAndGrads(s);
    mtl::kg::markDirectConvs(direct);
    EXPECT_EQ(winogradOutputs(direct, isa), 0);
  }
}

TEST(Winograd, MatchesTheDirectConv) {
  const std::vector<Shape3x3> shapes = {
      {2, 20, 20, 32, 64, 1, 1},  // conv2 of the reference network: F(4x4)
      {2, 10, 10, 64, 128, 1, 1}, // conv3: F(2x2)
      {2, 14, 14, 32, 16, 1, 1},  // recon_conv1: rows of 7 tiles, or 4
                                  // overhanging 4 x 4 ones (AVX2)
      {2, 6, 14, 8, 16, 1, 1},    // forward: 2 x 4 tiles of 4 x 4 over 6 x 14
                                  // outputs (16 registers), both ways over
      {3, 10, 12, 16, 16, 0, 0},  // no padding: 8 x 10 outputs
      {2, 8, 10, 8, 24, 1, 0},    // padding along y only
      {2, 10, 14, 8, 16, 0, 1},   // F(4x4) forward and grad-filter (8 x 12
                                  // outputs), F(2x2) grad-input
  };
  for (const Shape3x3 &s : shapes) {
    SCOPED_TRACE(std::to_string(s.H) + "x" + std::to_string(s.W) + "x" +
                 std::to_string(s.Ci) + " -> " + std::to_string(s.Co));
    mtl::kg::Function fn = convAndGrads(s), direct = fn;
    mtl::kg::markDirectConvs(direct);
    std::vector<HostTensor> in = {
        randomTensor({s.N, s.H, s.W, s.Ci}, 1),
        randomTensor({3, 3, s.Ci, s.Co}, 2),
        randomTensor({s.Co}, 3),
        randomTensor({s.N, s.Ho(), s.Wo(), s.Co}, 4),
    };
    for (const std::string &isa : testIsas()) {
      SCOPED_TRACE("isa " + (isa.empty() ? std::string("host") : isa));
      std::vector<HostTensor> got, want;
      ASSERT_EQ(evaluate(fn, in, got, isa), "");
      ASSERT_EQ(evaluate(direct, in, want, isa), "");
      ASSERT_EQ(got.size(), 3u);
      // Each product's algorithm: F(4x4, 3x3) (output tiles whole or
      // overhanging) or F(2x2, 3x3); the grad-filter's F(3x3, 4x4) where dy
      // divides into 4 x 4 blocks, else F(3x3, 2x2).
      mtl::codegen::IsaScope scope(isa.empty() ? Halide::get_host_target()
                                               : mtl::codegen::isaTarget(isa));
      const bool f4[3] = {
          mtl::codegen::winogradOutputTile(s.Co, s.Ho(), s.Wo()) == 4,
          mtl::codegen::winogradOutputTile(s.Ci, s.H, s.W) == 4,
          s.Ho() % 4 == 0 && s.Wo() % 4 == 0};
      for (int k = 0; k < 3; ++k) {
        ASSERT_EQ(got[k].f32.size(), want[k].f32.size());
        double worst = 0;
        for (size_t i = 0; i < got[k].f32.size(); ++i)
          worst = std::max(worst,
                           std::fabs(double(got[k].f32[i]) - want[k].f32[i]) /
                               (1 + std::fabs(want[k].f32[i])));
        // Sums of 9 Ci (grad-filter: N Ho Wo) products of values in
        // [-1, 1]: fp32 rounding only. F(2x2): 1e-6 to 1.6e-5 seen;
        // F(4x4), whose transforms' entries reach 8 and 1/24, ~10 times
        // that (up to 1.4e-4 seen, as Lavin & Gray report for fp32).
        EXPECT_LT(worst, f4[k] ? 5e-4 : 1e-4) << "output " << k;
      }
      if (s.ph == 1 && s.pw == 1) {
        // The relu was applied (fused into the inverse transform).
        float lowest = 0;
        for (float v : got[0].f32)
          lowest = std::min(lowest, v);
        EXPECT_EQ(lowest, 0.0f);
      }
    }
  }
}

} // namespace
