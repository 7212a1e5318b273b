//===- CnnOpsTest.cpp - The CNN ops' Halide lowering against naive loops -===//
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

HostTensor run1(const mtl::kg::Function &fn, const std::vector<HostTensor> &a) {
  std::vector<HostTensor> out;
  std::string err = evaluate(fn, a, out);
  EXPECT_EQ(err, "");
  return out.empty() ? HostTensor{} : out[0];
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
}

/// One op of one input (plus params) and one output.
HostTensor unary(const std::string &op, const HostTensor &x, Shape out,
                 std::map<std::string, std::vector<int64_t>> ints = {},
                 std::map<std::string, double> floats = {}) {
  Builder b;
  int in = b.arg(ArgKind::Input, "x", x.shape);
  b.out(ArgKind::Prediction, "y", b.op(op, {in}, out, ints, floats));
  return run1(b.fn, {x});
}

} // namespace

TEST(CnnOps, Conv2DDilatedGrouped) {
  const int N = 2, H = 7, W = 6, Ci = 6, G = 3, Cig = Ci / G, Co = 9,
            Cog = Co / G, KH = 3, KW = 2, sh = 2, sw = 1, ph = 2, pw = 1,
            dh = 2, dw = 3;
  const int Ho = (H + 2 * ph - ((KH - 1) * dh + 1)) / sh + 1;
  const int Wo = (W + 2 * pw - ((KW - 1) * dw + 1)) / sw + 1;
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {N, H, W, Ci});
  int w = b.arg(ArgKind::Param, "w", {KH, KW, Cig, Co});
  int y = b.op("conv2d", {x, w}, {N, Ho, Wo, Co},
               {{"stride", {sh, sw}},
                {"padding", {ph, pw}},
                {"dilation", {dh, dw}},
                {"groups", {G}}});
  b.out(ArgKind::Prediction, "y", y);
  auto X = randomTensor({N, H, W, Ci}, 1),
       Wt = randomTensor({KH, KW, Cig, Co}, 2);
  std::vector<float> ref(size_t(N) * Ho * Wo * Co, 0.0f);
  for (int n = 0; n < N; ++n)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo)
        for (int co = 0; co < Co; ++co)
          for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw)
              for (int c = 0; c < Cig; ++c) {
                int h = ho * sh + kh * dh - ph, ww = wo * sw + kw * dw - pw;
                if (h < 0 || h >= H || ww < 0 || ww >= W)
                  continue;
                int ci = (co / Cog) * Cig + c;
                ref[((size_t(n) * Ho + ho) * Wo + wo) * Co + co] +=
                    X.f32[((size_t(n) * H + h) * W + ww) * Ci + ci] *
                    Wt.f32[((kh * KW + kw) * Cig + c) * Co + co];
              }
  expectNear(run1(b.fn, {X, Wt}).f32, ref);
}

// Output padding 1 x 0 gives a 6 x 7 output (the dilated form: 7 does not
// divide into the stride's phases), 1 x 1 a 6 x 8 one (by phase,
// Conv2D.cpp stridedGradInputByPhase; the bias as its epilogue).
class ConvTranspose : public ::testing::TestWithParam<int> {};

TEST_P(ConvTranspose, Scatter) {
  const int N = 2, H = 3, W = 4, Ci = 3, Co = 5, KH = 3, KW = 3, s = 2, p = 1,
            op = 1, opw = GetParam();
  const int Ho = (H - 1) * s - 2 * p + KH + op,
            Wo = (W - 1) * s - 2 * p + KW + opw;
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {N, H, W, Ci});
  int w = b.arg(ArgKind::Param, "w", {KH, KW, Co, Ci});
  int bias = b.arg(ArgKind::Param, "b", {Co});
  int y = b.op(
      "conv_transpose2d", {x, w, bias}, {N, Ho, Wo, Co},
      {{"stride", {s, s}}, {"padding", {p, p}}, {"output_padding", {op, opw}}});
  b.out(ArgKind::Prediction, "y", y);
  auto X = randomTensor({N, H, W, Ci}, 3),
       Wt = randomTensor({KH, KW, Co, Ci}, 4), B = randomTensor({Co}, 5);
  std::vector<float> ref(size_t(N) * Ho * Wo * Co);
  for (size_t i = 0; i < ref.size(); ++i)
    ref[i] = B.f32[i % Co];
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int ww = 0; ww < W; ++ww)
        for (int kh = 0; kh < KH; ++kh)
          for (int kw = 0; kw < KW; ++kw) {
            int oh = h * s + kh - p, ow = ww * s + kw - p;
            if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo)
              continue;
            for (int co = 0; co < Co; ++co)
              for (int ci = 0; ci < Ci; ++ci)
                ref[((size_t(n) * Ho + oh) * Wo + ow) * Co + co] +=
                    X.f32[((size_t(n) * H + h) * W + ww) * Ci + ci] *
                    Wt.f32[((kh * KW + kw) * Co + co) * Ci + ci];
          }
  expectNear(run1(b.fn, {X, Wt, B}).f32, ref);
  EXPECT_EQ(reachesA(reachedFuncs(b.fn), "phase"), opw == 1);
}

INSTANTIATE_TEST_SUITE_P(OutputPadding, ConvTranspose, ::testing::Values(0, 1));

// PyTorch's F.interpolate(scale_factor=2, mode="bilinear",
// align_corners=False) of [[1, 2], [3, 4]].
TEST(CnnOps, UpsampleBilinearMatchesPyTorch) {
  HostTensor x;
  x.shape = {1, 2, 2, 1};
  x.f32 = {1, 2, 3, 4};
  HostTensor y =
      unary("upsample_bilinear", x, {1, 4, 4, 1}, {{"scale", {2, 2}}});
  expectNear(y.f32, {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f,
                     2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f});
}

TEST(CnnOps, UpsampleNearest) {
  auto x = randomTensor({2, 2, 3, 5}, 6);
  HostTensor y =
      unary("upsample_nearest", x, {2, 6, 6, 5}, {{"scale", {3, 2}}});
  std::vector<float> ref;
  for (int n = 0; n < 2; ++n)
    for (int h = 0; h < 6; ++h)
      for (int w = 0; w < 6; ++w)
        for (int c = 0; c < 5; ++c)
          ref.push_back(x.f32[((n * 2 + h / 3) * 3 + w / 2) * 5 + c]);
  expectNear(y.f32, ref);
}

TEST(CnnOps, AvgAndGlobalAvgPool) {
  auto x = randomTensor({2, 4, 5, 17}, 7);
  HostTensor y = unary("avg_pool", x, {2, 2, 2, 17},
                       {{"kernel", {2, 3}}, {"stride", {2, 2}}});
  std::vector<float> ref;
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int c = 0; c < 17; ++c) {
          float s = 0;
          for (int a = 0; a < 2; ++a)
            for (int bb = 0; bb < 3; ++bb)
              s += x.f32[((n * 4 + 2 * i + a) * 5 + 2 * j + bb) * 17 + c];
          ref.push_back(s / 6);
        }
  expectNear(y.f32, ref);
  HostTensor g = unary("global_avg_pool", x, {2, 17});
  std::vector<float> gref(2 * 17, 0.0f);
  for (size_t i = 0; i < x.f32.size(); ++i)
    gref[(i / (4 * 5 * 17)) * 17 + i % 17] += x.f32[i] / 20;
  expectNear(g.f32, gref);
}

TEST(CnnOps, GeluTanhApproximation) {
  auto x = randomTensor({3, 37}, 8, -4, 4);
  HostTensor y = unary("gelu", x, {3, 37});
  std::vector<float> ref;
  for (float v : x.f32)
    ref.push_back(0.5f * v *
                  (1 + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v))));
  expectNear(y.f32, ref);
}

TEST(CnnOps, SoftmaxAndLayerNormRows) {
  const int R = 6, C = 21;
  auto x = randomTensor({2, 3, C}, 9, -5, 5);
  HostTensor s = unary("softmax", x, {2, 3, C});
  Builder b;
  int in = b.arg(ArgKind::Input, "x", {2, 3, C});
  int g = b.arg(ArgKind::Param, "g", {C});
  int bt = b.arg(ArgKind::Param, "b", {C});
  b.out(ArgKind::Prediction, "y",
        b.op("layer_norm", {in, g, bt}, {2, 3, C}, {}, {{"eps", 1e-3}}));
  auto G = randomTensor({C}, 10), Bt = randomTensor({C}, 11);
  HostTensor ln = run1(b.fn, {x, G, Bt});
  std::vector<float> sref, lref;
  for (int r = 0; r < R; ++r) {
    const float *row = &x.f32[r * C];
    float m = row[0], sum = 0, mean = 0, var = 0;
    for (int c = 0; c < C; ++c)
      m = std::max(m, row[c]);
    for (int c = 0; c < C; ++c)
      sum += std::exp(row[c] - m);
    for (int c = 0; c < C; ++c) {
      sref.push_back(std::exp(row[c] - m) / sum);
      mean += row[c] / C;
    }
    for (int c = 0; c < C; ++c)
      var += (row[c] - mean) * (row[c] - mean) / C;
    for (int c = 0; c < C; ++c)
      lref.push_back((row[c] - mean) / std::sqrt(var + 1e-3f) * G.f32[c] +
                     Bt.f32[c]);
  }
  expectNear(s.f32, sref);
  expectNear(ln.f32, lref);
}

TEST(CnnOps, ConcatAndSliceChannels) {
  auto a = randomTensor({2, 3, 2}, 12), c = randomTensor({2, 3, 5}, 13);
  Builder b;
  int ia = b.arg(ArgKind::Input, "a", {2, 3, 2});
  int ic = b.arg(ArgKind::Input, "c", {2, 3, 5});
  int cat = b.op("concat", {ia, ic, ia}, {2, 3, 9});
  b.out(ArgKind::Prediction, "cat", cat);
  b.out(ArgKind::Prediction, "slice",
        b.op("slice_channels", {cat}, {2, 3, 5}, {{"offset", {2}}}));
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {a, c}, out), "");
  std::vector<float> ref;
  for (int r = 0; r < 6; ++r) {
    for (int k = 0; k < 2; ++k)
      ref.push_back(a.f32[r * 2 + k]);
    for (int k = 0; k < 5; ++k)
      ref.push_back(c.f32[r * 5 + k]);
    for (int k = 0; k < 2; ++k)
      ref.push_back(a.f32[r * 2 + k]);
  }
  expectNear(out[0].f32, ref);
  expectNear(out[1].f32, c.f32);
}
