//===- PolyphaseTest.cpp - convs over a nearest upsample, phase by phase --===//
//
// A padded conv over an upsample that Segments.cpp recomputes in it (a
// decoder's layer) takes the per-phase forms of codegen/ops/Polyphase.cpp:
// the one-channel forward with merged taps, the grad-filter over the
// source's pixels and dy's box sums, the one-channel grad-input merged
// with the upsample's gradient. Each is checked against the whole function
// evaluated without segments (the upsample stored, direct convs) at the
// reference decoder's geometry (scale 2, 3 x 3, padding 1) and at ones
// whose phases read different numbers of source taps (5 x 5, scale 3,
// padding 2), with one output channel and with 16.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

struct Decoder {
  int scale, K, pad, Co;
};

std::ostream &operator<<(std::ostream &os, const Decoder &d) {
  return os << "scale " << d.scale << ", " << d.K << "x" << d.K << ", pad "
            << d.pad << ", Co " << d.Co;
}

class Polyphase : public ::testing::TestWithParam<Decoder> {};

TEST_P(Polyphase, MatchesTheDirectConvs) {
  const Decoder d = GetParam();
  const int64_t N = 2, H = 5, C = 16, U = d.scale * H;
  const int64_t Ho = U + 2 * d.pad - d.K + 1;
  const std::map<std::string, std::vector<int64_t>> conv = {
      {"stride", {1, 1}}, {"padding", {d.pad, d.pad}}};
  Builder b("decoder");
  int x = b.arg(ArgKind::Input, "x", {N, H, H, C});
  int w = b.arg(ArgKind::Param, "w", {d.K, d.K, C, d.Co});
  int bias = b.arg(ArgKind::Param, "b", {d.Co});
  int dy = b.arg(ArgKind::Target, "dy", {N, Ho, Ho, d.Co});
  int up = b.op("upsample_nearest", {x}, {N, U, U, C},
                {{"scale", {d.scale, d.scale}}});
  int y = b.op("conv2d", {up, w, bias}, {N, Ho, Ho, d.Co}, conv);
  int dw = b.op("conv2d_backward_filter", {up, dy}, {d.K, d.K, C, d.Co}, conv);
  int dup = b.op("conv2d_backward_input", {dy, w}, {N, U, U, C}, conv);
  int dx = b.op("upsample_grad_nearest", {dup}, {N, H, H, C},
                {{"scale", {d.scale, d.scale}}});
  b.out(ArgKind::Prediction, "y", y);
  b.out(ArgKind::Grad, "w", dw);
  b.out(ArgKind::Grad, "x", dx);

  // Which per-phase forms the segments' lowerings reach: with one output
  // channel, the forward's merged taps and, where Segments.cpp recomputes
  // the grad-input (one-channel dy, at most 9 taps) in the upsample's
  // gradient, theirs; the grad-filter's box sums always.
  int forward = 0, gradInput = 0, boxSums = 0;
  for (const Segment &s : segmentFunction(b.fn).segments) {
    std::set<std::string> f = reachedFuncs(s.fn);
    bool conv = false, inlineGradInput = false;
    for (const mtl::kg::Node &n : s.fn.nodes) {
      conv |= n.op == "conv2d";
      inlineGradInput |=
          n.op == "conv2d_backward_input" && n.ints.count("mtl.inline");
    }
    const bool merged = reachesA(f, "phase_filter");
    forward += conv && merged;
    gradInput += inlineGradInput && merged;
    boxSums += reachesA(f, "box_sums");
    if ((conv || inlineGradInput) && d.Co == 1)
      EXPECT_TRUE(merged) << s.label;
  }
  EXPECT_EQ(forward, d.Co == 1 ? 1 : 0);
  EXPECT_EQ(gradInput, d.Co == 1 && d.K * d.K <= 9 ? 1 : 0);
  EXPECT_EQ(boxSums, 1);
  expectSegmentedMatchesWhole(b.fn);
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, Polyphase,
    ::testing::Values(Decoder{2, 3, 1, 1}, Decoder{2, 3, 2, 1},
                      Decoder{2, 5, 2, 1}, Decoder{3, 3, 1, 1},
                      Decoder{2, 5, 2, 16}, Decoder{3, 3, 2, 16}));

} // namespace
