//===- OpsTest.cpp - Each op's Halide lowering against naive loops -------===//
#include "TestUtil.h"

#include <Halide.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

/// Runs a one-output function and returns the output.
HostTensor run1(const mtl::kg::Function &fn, const std::vector<HostTensor> &a,
                const std::string &isa = "") {
  std::vector<HostTensor> out;
  std::string err = evaluate(fn, a, out, isa);
  EXPECT_EQ(err, "");
  return out.empty() ? HostTensor{} : out[0];
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
}

struct Conv {
  int N, H, W, Ci, KH, KW, Co, sh, sw, ph, pw;
  int Ho() const { return (H + 2 * ph - KH) / sh + 1; }
  int Wo() const { return (W + 2 * pw - KW) / sw + 1; }
  std::map<std::string, std::vector<int64_t>> ints() const {
    return {{"stride", {sh, sw}}, {"padding", {ph, pw}}};
  }
  /// The bound against naive loops of a product with an h x w output:
  /// 1e-4, but 5e-4 where a 3 x 3 stride-1 conv may take Winograd's
  /// F(4x4, 3x3) (whole 4 x 4 tiles), ~10 times F(2x2)'s rounding
  /// (Winograd.cpp).
  float tol(int h, int w) const {
    return KH == 3 && KW == 3 && sh == 1 && sw == 1 && h % 4 == 0 && w % 4 == 0
               ? 5e-4f
               : 1e-4f;
  }
  // Calls f(n, ho, wo, h, w, kh, kw) for every valid tap.
  template <typename F> void taps(F f) const {
    for (int n = 0; n < N; ++n)
      for (int ho = 0; ho < Ho(); ++ho)
        for (int wo = 0; wo < Wo(); ++wo)
          for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw) {
              int h = ho * sh + kh - ph, w = wo * sw + kw - pw;
              if (h >= 0 && h < H && w >= 0 && w < W)
                f(n, ho, wo, h, w, kh, kw);
            }
  }
};

void PrintTo(const Conv &c, std::ostream *os) {
  *os << "N" << c.N << "_" << c.H << "x" << c.W << "x" << c.Ci << "_k" << c.KH
      << "x" << c.KW << "_co" << c.Co << "_s" << c.sh << c.sw << "_p" << c.ph
      << c.pw;
}

class ConvTest : public ::testing::TestWithParam<Conv> {};

TEST_P(ConvTest, Forward) {
  Conv c = GetParam();
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {c.N, c.H, c.W, c.Ci});
  int w = b.arg(ArgKind::Param, "w", {c.KH, c.KW, c.Ci, c.Co});
  int bias = b.arg(ArgKind::Param, "b", {c.Co});
  int y = b.op("conv2d", {x, w, bias}, {c.N, c.Ho(), c.Wo(), c.Co}, c.ints());
  b.out(ArgKind::Prediction, "y", y);
  auto X = randomTensor({c.N, c.H, c.W, c.Ci}, 1);
  auto Wt = randomTensor({c.KH, c.KW, c.Ci, c.Co}, 2);
  auto B = randomTensor({c.Co}, 3);
  std::vector<float> ref(size_t(c.N) * c.Ho() * c.Wo() * c.Co);
  for (int n = 0; n < c.N; ++n)
    for (int i = 0; i < c.Ho() * c.Wo(); ++i)
      for (int co = 0; co < c.Co; ++co)
        ref[(size_t(n) * c.Ho() * c.Wo() + i) * c.Co + co] = B.f32[co];
  c.taps([&](int n, int ho, int wo, int h, int w, int kh, int kw) {
    for (int ci = 0; ci < c.Ci; ++ci)
      for (int co = 0; co < c.Co; ++co)
        ref[((size_t(n) * c.Ho() + ho) * c.Wo() + wo) * c.Co + co] +=
            X.f32[((size_t(n) * c.H + h) * c.W + w) * c.Ci + ci] *
            Wt.f32[((kh * c.KW + kw) * c.Ci + ci) * c.Co + co];
  });
  for (const std::string &isa : testIsas()) {
    SCOPED_TRACE("isa " + (isa.empty() ? std::string("host") : isa));
    expectNear(run1(b.fn, {X, Wt, B}, isa).f32, ref, c.tol(c.Ho(), c.Wo()));
  }
}

TEST_P(ConvTest, BackwardInputAndFilter) {
  Conv c = GetParam();
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {c.N, c.H, c.W, c.Ci});
  int w = b.arg(ArgKind::Param, "w", {c.KH, c.KW, c.Ci, c.Co});
  int dy = b.arg(ArgKind::Input, "dy", {c.N, c.Ho(), c.Wo(), c.Co});
  int dx =
      b.op("conv2d_backward_input", {dy, w}, {c.N, c.H, c.W, c.Ci}, c.ints());
  int dw = b.op("conv2d_backward_filter", {x, dy}, {c.KH, c.KW, c.Ci, c.Co},
                c.ints());
  b.out(ArgKind::Grad, "x", dx);
  b.out(ArgKind::Grad, "w", dw);
  auto X = randomTensor({c.N, c.H, c.W, c.Ci}, 4);
  auto Wt = randomTensor({c.KH, c.KW, c.Ci, c.Co}, 5);
  auto DY = randomTensor({c.N, c.Ho(), c.Wo(), c.Co}, 6);
  std::vector<float> rdx(X.f32.size()), rdw(Wt.f32.size());
  c.taps([&](int n, int ho, int wo, int h, int w, int kh, int kw) {
    for (int ci = 0; ci < c.Ci; ++ci)
      for (int co = 0; co < c.Co; ++co) {
        float g = DY.f32[((size_t(n) * c.Ho() + ho) * c.Wo() + wo) * c.Co + co];
        size_t xi = ((size_t(n) * c.H + h) * c.W + w) * c.Ci + ci;
        size_t wi = ((kh * c.KW + kw) * c.Ci + ci) * c.Co + co;
        rdx[xi] += g * Wt.f32[wi];
        rdw[wi] += g * X.f32[xi];
      }
  });
  for (const std::string &isa : testIsas()) {
    SCOPED_TRACE("isa " + (isa.empty() ? std::string("host") : isa));
    std::vector<HostTensor> out;
    ASSERT_EQ(evaluate(b.fn, {X, Wt, DY}, out, isa), "");
    expectNear(out[0].f32, rdx, c.tol(c.H, c.W));
    expectNear(out[1].f32, rdw, 1e-3f);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvTest,
    ::testing::Values(
        Conv{2, 9, 9, 5, 3, 3, 20, 2, 2, 1,
             1}, // stride 2, pad
                 // Strided grad-inputs by output phase (even sizes):
                 // 3x3 / 2 pad 1 (the VAE's), 4x4 / 2 pad 1, no pad
                 // (a last row no window reaches), one channel, 3 / 3.
        Conv{2, 8, 8, 8, 3, 3, 16, 2, 2, 1, 1},
        Conv{2, 8, 6, 4, 4, 4, 8, 2, 2, 1, 1},
        Conv{2, 12, 10, 4, 3, 3, 8, 2, 2, 0, 0},
        Conv{2, 8, 8, 1, 3, 3, 8, 2, 2, 1, 1},
        Conv{2, 9, 9, 8, 3, 3, 8, 3, 3, 1, 1},
        Conv{2, 8, 8, 8, 3, 3, 32, 1, 1, 1, 1},   // full tiles
        Conv{3, 7, 6, 16, 3, 3, 3, 1, 1, 0, 0},   // thin output
        Conv{4, 10, 10, 1, 3, 3, 64, 1, 1, 1, 1}, // first layer
        Conv{2, 8, 9, 4, 2, 3, 16, 2, 1, 0, 2},
        Conv{3, 8, 8, 1, 3, 3, 4, 1, 1, 1, 1},
        Conv{3, 4, 4, 4, 3, 3, 8, 1, 1, 1, 1},
        // image-blocked grad-filter schedule (Co % 64 == 0)
        Conv{2, 6, 6, 8, 3, 3, 64, 1, 1, 1, 1},
        Conv{3, 5, 5, 4, 3, 3, 128, 2, 2, 1, 1},
        // ... with one co vector x 16 ci (a decoder's Co = 16)
        Conv{2, 6, 5, 32, 3, 3, 16, 1, 1, 1, 1},
        // whole-filter register tile (first / last layers)
        Conv{2, 6, 6, 1, 3, 3, 32, 1, 1, 1, 1},
        Conv{2, 6, 6, 16, 3, 3, 1, 1, 1, 1, 1},
        // one output channel, forward as a vector reduce
        Conv{2, 9, 7, 32, 3, 3, 1, 2, 2, 0, 0},
        // ... stride 1, rows of a vector or more (the
        // decoder's last layer)
        Conv{2, 10, 13, 16, 3, 3, 1, 1, 1, 1, 1},
        Conv{1, 8, 20, 32, 3, 3, 1, 1, 1, 1, 1},
        // Winograd (Winograd.cpp) forward and grad-input:
        // F(4x4, 3x3) for the reference network's conv2,
        // F(2x2, 3x3) with no padding (8 x 10 outputs, 10 x
        // 12 grad-inputs)
        Conv{2, 20, 20, 32, 3, 3, 64, 1, 1, 1, 1},
        Conv{3, 10, 12, 16, 3, 3, 16, 1, 1, 0, 0},
        // 5 x 5 grad-inputs as a GEMM and a col2im (GemmGradInput.cpp):
        // without padding (multi_fashion's), with padding 2, and 7 x 7
        // outputs (the pixel tiles of 6 shifted inwards).
        Conv{2, 10, 9, 8, 5, 5, 16, 1, 1, 0, 0},
        Conv{2, 7, 8, 8, 5, 5, 16, 1, 1, 2, 2},
        Conv{2, 11, 11, 16, 5, 5, 32, 1, 1, 0, 0},
        // Direct convs whose first and last output rows sum only the
        // filter rows inside the input (directConv's ky bounds): the
        // forwards above with padding, and 5 x 3 padded unevenly (its
        // grad-input too: 8 output channels).
        Conv{2, 6, 7, 8, 5, 3, 8, 1, 1, 1, 0},
        // A first layer's 5 x 5 grad-filter: one row of taps per register
        // tile (multi_fashion's conv1), without and with padding.
        Conv{2, 12, 12, 1, 5, 5, 32, 1, 1, 0, 0},
        Conv{2, 9, 10, 1, 5, 5, 16, 1, 1, 2, 2},
        // Rows no wide tile divides (7 x 7 outputs, 64 channels: the VAE's
        // stride-2 conv) take a narrower tile (scheduleTiledContraction).
        Conv{2, 14, 14, 8, 3, 3, 64, 2, 2, 1, 1}));

struct DenseShape {
  int N, K, M;
};
class DenseTest : public ::testing::TestWithParam<DenseShape> {};

TEST_P(DenseTest, ForwardAndGradients) {
  const int N = GetParam().N, K = GetParam().K, M = GetParam().M;
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {N, K});
  int w = b.arg(ArgKind::Param, "w", {K, M});
  int bias = b.arg(ArgKind::Param, "b", {M});
  int dy = b.arg(ArgKind::Input, "dy", {N, M});
  b.out(ArgKind::Prediction, "y", b.op("dense", {x, w, bias}, {N, M}));
  b.out(ArgKind::Grad, "x", b.op("dense_backward_input", {dy, w}, {N, K}));
  b.out(ArgKind::Grad, "w", b.op("dense_backward_weight", {x, dy}, {K, M}));
  auto X = randomTensor({N, K}, 1), W = randomTensor({K, M}, 2),
       B = randomTensor({M}, 3), DY = randomTensor({N, M}, 4);
  std::vector<float> y(N * M), dx(N * K), dw(K * M);
  for (int n = 0; n < N; ++n)
    for (int m = 0; m < M; ++m) {
      y[n * M + m] = B.f32[m];
      for (int k = 0; k < K; ++k) {
        y[n * M + m] += X.f32[n * K + k] * W.f32[k * M + m];
        dx[n * K + k] += DY.f32[n * M + m] * W.f32[k * M + m];
        dw[k * M + m] += X.f32[n * K + k] * DY.f32[n * M + m];
      }
    }
  for (const std::string &isa : testIsas()) {
    SCOPED_TRACE("isa " + (isa.empty() ? std::string("host") : isa));
    std::vector<HostTensor> out;
    ASSERT_EQ(evaluate(b.fn, {X, W, B, DY}, out, isa), "");
    expectNear(out[0].f32, y);
    expectNear(out[1].f32, dx);
    expectNear(out[2].f32, dw);
  }
}

// Small (plain register tile) and large enough for the packed, k-blocked
// GEMMs: a k block with a guard (1000, 520), tails along j, 5-row tiles.
INSTANTIATE_TEST_SUITE_P(Shapes, DenseTest,
                         ::testing::Values(DenseShape{7, 13, 37},
                                           DenseShape{8, 1000, 520},
                                           DenseShape{20, 1024, 400},
                                           // blocked with a short reduction
                                           DenseShape{64, 1024, 64},
                                           // grad-in with the batch
                                           // vectorized (AVX-512): 3, 2 and
                                           // 2 x 4 vectors of it, shifted
                                           // last panels, k blocks of 50/35
                                           DenseShape{48, 1000, 100},
                                           DenseShape{32, 2000, 70},
                                           DenseShape{128, 500, 96},
                                           // forward over >= 1024 columns
                                           // (the broadcast operand packed
                                           // in row tiles), a shifted
                                           // last panel
                                           DenseShape{16, 320, 1060},
                                           // grad-weight over a long
                                           // batch (k-blocked: an lstm's
                                           // N x T rows), a guarded block
                                           DenseShape{1100, 64, 64}));

TEST(Elementwise, ReluJoinReshapeBiasGrad) {
  Shape s = {4, 3, 5, 20};
  Builder b;
  int x = b.arg(ArgKind::Input, "x", s);
  int g1 = b.arg(ArgKind::Input, "g1", s);
  int g2 = b.arg(ArgKind::Input, "g2", s);
  int y = b.op("relu", {x}, s);
  b.out(ArgKind::Prediction, "relu", y);
  b.out(ArgKind::Grad, "relu_grad", b.op("relu_grad", {g1, y}, s));
  b.out(ArgKind::Grad, "join", b.op("join", {x, g1, g2}, s));
  b.out(ArgKind::Prediction, "flat", b.op("reshape", {x}, {4, 300}));
  b.out(ArgKind::Grad, "bias", b.op("bias_grad", {g1}, {20}));
  auto X = randomTensor(s, 1), G1 = randomTensor(s, 2), G2 = randomTensor(s, 3);
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {X, G1, G2}, out), "");
  std::vector<float> relu, rg, join, bias(20);
  for (size_t i = 0; i < X.f32.size(); ++i) {
    relu.push_back(std::max(X.f32[i], 0.0f));
    rg.push_back(X.f32[i] > 0 ? G1.f32[i] : 0.0f);
    join.push_back(X.f32[i] + G1.f32[i] + G2.f32[i]);
    bias[i % 20] += G1.f32[i];
  }
  expectNear(out[0].f32, relu);
  expectNear(out[1].f32, rg);
  expectNear(out[2].f32, join);
  expectNear(out[3].f32, X.f32);
  EXPECT_EQ(out[3].shape, (Shape{4, 300}));
  expectNear(out[4].f32, bias);
}

// tanh is computed in vector arithmetic (Eigen's rational approximation,
// tanhOf), not by Halide's scalar libm call: within 5e-7 of std::tanh from
// -20 to 20 and for tiny inputs (relative), odd, saturating, NaN kept.
TEST(Elementwise, TanhAgainstLibm) {
  std::vector<float> xs;
  for (int i = -200000; i <= 200000; ++i)
    xs.push_back(i * 1e-4f);
  for (float t = 1e-9f; t < 1e-2f; t *= 1.01f) {
    xs.push_back(t);
    xs.push_back(-t);
  }
  xs.push_back(1e30f);
  xs.push_back(-1e30f);
  xs.push_back(std::nanf(""));
  const int64_t n = static_cast<int64_t>(xs.size());
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {n});
  b.out(ArgKind::Prediction, "tanh", b.op("tanh", {x}, {n}));
  HostTensor X;
  X.shape = {n};
  X.f32 = xs;
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {X}, out), "");
  ASSERT_EQ(out[0].f32.size(), xs.size());
  double worst = 0;
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    const double ref = std::tanh(double(xs[i]));
    const double err = std::fabs(out[0].f32[i] - ref);
    worst = std::max(worst, err);
    if (std::fabs(xs[i]) < 1e-2f)
      EXPECT_LE(err, 5e-7 * std::fabs(ref)) << "tanh(" << xs[i] << ")";
  }
  EXPECT_LE(worst, 5e-7);
  EXPECT_TRUE(std::isnan(out[0].f32.back()));
  // No call of Halide's tanh_f32 (libm's scalar tanhf) in the definition.
  struct FindTanh : Halide::Internal::IRVisitor {
    bool found = false;
    using IRVisitor::visit;
    void visit(const Halide::Internal::Call *c) override {
      found = found || c->name.find("tanh") != std::string::npos;
      IRVisitor::visit(c);
    }
  } finder;
  LoweredFunction lf = lowerFunction(b.fn, isaTarget("avx2"));
  for (const Halide::Expr &v : lf.outputs[0].function().definition().values())
    v.accept(&finder);
  EXPECT_FALSE(finder.found);
}

TEST(Pool, MaxPoolAndGradWithTies) {
  // 3x3 windows, stride 2: windows overlap; small integer values force ties.
  const int N = 2, H = 7, W = 7, C = 17, K = 3, S = 2;
  const int Ho = (H - K) / S + 1, Wo = (W - K) / S + 1;
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {N, H, W, C});
  int dy = b.arg(ArgKind::Input, "dy", {N, Ho, Wo, C});
  std::map<std::string, std::vector<int64_t>> ints = {{"kernel", {K, K}},
                                                      {"stride", {S, S}}};
  b.out(ArgKind::Prediction, "y", b.op("max_pool", {x}, {N, Ho, Wo, C}, ints));
  b.out(ArgKind::Grad, "x", b.op("max_pool_grad", {dy, x}, {N, H, W, C}, ints));
  auto X = randomTensor({N, H, W, C}, 7);
  for (float &v : X.f32)
    v = std::floor(v * 2); // values in {-2,-1,0,1}
  auto DY = randomTensor({N, Ho, Wo, C}, 8);
  auto at = [&](int n, int h, int w, int c) {
    return ((size_t(n) * H + h) * W + w) * C + c;
  };
  std::vector<float> y, dx(X.f32.size());
  for (int n = 0; n < N; ++n)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo)
        for (int c = 0; c < C; ++c) {
          size_t best = at(n, ho * S, wo * S, c);
          for (int kh = 0; kh < K; ++kh)
            for (int kw = 0; kw < K; ++kw) {
              size_t i = at(n, ho * S + kh, wo * S + kw, c);
              if (X.f32[i] > X.f32[best])
                best = i;
            }
          y.push_back(X.f32[best]);
          dx[best] += DY.f32[((size_t(n) * Ho + ho) * Wo + wo) * C + c];
        }
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {X, DY}, out), "");
  expectNear(out[0].f32, y);
  expectNear(out[1].f32, dx);
}

TEST(Pool, PaddedMaxAndAvgPoolAgainstLoops) {
  // 3x3 windows, stride 2, padding 1: the border windows reach outside.
  // max pads with -inf (ties broken by the first maximum in row-major
  // order), avg with zeros that count in the mean.
  const int N = 2, H = 6, W = 5, C = 16, K = 3, S = 2, P = 1;
  const int Ho = (H + 2 * P - K) / S + 1, Wo = (W + 2 * P - K) / S + 1;
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {N, H, W, C});
  int dy = b.arg(ArgKind::Input, "dy", {N, Ho, Wo, C});
  std::map<std::string, std::vector<int64_t>> ints = {
      {"kernel", {K, K}}, {"stride", {S, S}}, {"padding", {P, P}}};
  b.out(ArgKind::Prediction, "max",
        b.op("max_pool", {x}, {N, Ho, Wo, C}, ints));
  b.out(ArgKind::Grad, "max",
        b.op("max_pool_grad", {dy, x}, {N, H, W, C}, ints));
  b.out(ArgKind::Prediction, "avg",
        b.op("avg_pool", {x}, {N, Ho, Wo, C}, ints));
  b.out(ArgKind::Grad, "avg", b.op("avg_pool_grad", {dy}, {N, H, W, C}, ints));
  auto X = randomTensor({N, H, W, C}, 9);
  for (float &v : X.f32)
    v = std::floor(v * 2) - 3; // negative, so a zero pad would show
  auto DY = randomTensor({N, Ho, Wo, C}, 10);
  auto at = [&](int n, int h, int w, int c) {
    return ((size_t(n) * H + h) * W + w) * C + c;
  };
  std::vector<float> ymax, yavg, dmax(X.f32.size()), davg(X.f32.size());
  for (int n = 0; n < N; ++n)
    for (int ho = 0; ho < Ho; ++ho)
      for (int wo = 0; wo < Wo; ++wo)
        for (int c = 0; c < C; ++c) {
          float g = DY.f32[((size_t(n) * Ho + ho) * Wo + wo) * C + c];
          long best = -1;
          float sum = 0;
          for (int kh = 0; kh < K; ++kh)
            for (int kw = 0; kw < K; ++kw) {
              int h = ho * S + kh - P, w = wo * S + kw - P;
              if (h < 0 || h >= H || w < 0 || w >= W)
                continue;
              size_t i = at(n, h, w, c);
              sum += X.f32[i];
              davg[i] += g / (K * K);
              if (best < 0 || X.f32[i] > X.f32[best])
                best = long(i);
            }
          ymax.push_back(X.f32[best]);
          dmax[best] += g;
          yavg.push_back(sum / (K * K));
        }
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {X, DY}, out), "");
  expectNear(out[0].f32, ymax);
  expectNear(out[1].f32, dmax);
  expectNear(out[2].f32, yavg);
  expectNear(out[3].f32, davg);
}

TEST(Loss, SoftmaxCrossEntropyWithMask) {
  const int N = 6, C = 5;
  Builder b;
  int l = b.arg(ArgKind::Input, "logits", {N, C});
  int t = b.arg(ArgKind::Target, "t", {N}, DType::I32);
  int m = b.arg(ArgKind::Mask, "t", {N});
  b.out(ArgKind::Loss, "t", b.op("softmax_cross_entropy", {l, t, m}, {}));
  b.out(ArgKind::Grad, "logits",
        b.op("softmax_cross_entropy_grad", {l, t, m}, {N, C}, {},
             {{"scale", 0.5}}));
  auto L = randomTensor({N, C}, 3, -4, 4);
  std::vector<int32_t> tv = {0, 4, 2, 99, 1, -3}; // out-of-range get clamped
  HostTensor M;
  M.shape = {N};
  M.f32 = {1, 1, 0, 1, 1, 0};
  double loss = 0, den = 4;
  std::vector<float> g(N * C);
  for (int n = 0; n < N; ++n) {
    int tc = std::min(std::max(tv[n], 0), C - 1);
    double mx = -1e30, s = 0;
    for (int c = 0; c < C; ++c)
      mx = std::max(mx, double(L.f32[n * C + c]));
    for (int c = 0; c < C; ++c)
      s += std::exp(L.f32[n * C + c] - mx);
    double lse = std::log(s) + mx;
    loss += M.f32[n] * (lse - L.f32[n * C + tc]);
    for (int c = 0; c < C; ++c)
      g[n * C + c] =
          0.5 * M.f32[n] * (std::exp(L.f32[n * C + c] - lse) - (c == tc)) / den;
  }
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {L, intTensor({N}, tv), M}, out), "");
  ASSERT_EQ(out[0].f32.size(), 1u);
  EXPECT_NEAR(out[0].f32[0], loss / den, 1e-4);
  expectNear(out[1].f32, g);

  // All masked out: the denominator is clamped to 1, loss 0.
  M.f32.assign(N, 0.0f);
  ASSERT_EQ(evaluate(b.fn, {L, intTensor({N}, tv), M}, out), "");
  EXPECT_EQ(out[0].f32[0], 0.0f);
}

TEST(Loss, MseWithMask) {
  const int N = 5;
  Shape s = {N, 2, 3, 4};
  const int D = 24;
  Builder b;
  int p = b.arg(ArgKind::Input, "p", s);
  int t = b.arg(ArgKind::Target, "t", s);
  int m = b.arg(ArgKind::Mask, "t", {N});
  b.out(ArgKind::Loss, "t", b.op("mse", {p, t, m}, {}));
  b.out(ArgKind::Grad, "p",
        b.op("mse_grad", {p, t, m}, s, {}, {{"scale", 2.0}}));
  auto P = randomTensor(s, 1), T = randomTensor(s, 2);
  HostTensor M;
  M.shape = {N};
  M.f32 = {1, 0, 1, 1, 0};
  double den = 3, loss = 0;
  std::vector<float> g(P.f32.size());
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < D; ++j) {
      double d = P.f32[n * D + j] - T.f32[n * D + j];
      loss += M.f32[n] * d * d;
      g[n * D + j] = 2.0 * 2 * M.f32[n] * d / (den * D);
    }
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {P, T, M}, out), "");
  EXPECT_NEAR(out[0].f32[0], loss / (den * D), 1e-5);
  expectNear(out[1].f32, g);
}

TEST(Lowering, UnknownOpNamesOpAndLocation) {
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {2, 3});
  int y = b.op("frobnicate", {x}, {2, 3});
  b.fn.nodes.back().loc = "model.toml:12:3";
  b.out(ArgKind::Prediction, "y", y);
  std::vector<HostTensor> out;
  std::string err = evaluate(b.fn, {randomTensor({2, 3}, 1)}, out);
  EXPECT_NE(err.find("frobnicate"), std::string::npos) << err;
  EXPECT_NE(err.find("model.toml:12:3"), std::string::npos) << err;
}

TEST(Lowering, ArgumentPassedThroughAndOutputTwice) {
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {3, 4});
  int y = b.op("relu", {x}, {3, 4});
  b.out(ArgKind::Prediction, "x", x);
  b.out(ArgKind::Prediction, "a", y);
  b.out(ArgKind::Prediction, "b", y);
  auto X = randomTensor({3, 4}, 1);
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(b.fn, {X}, out), "");
  expectNear(out[0].f32, X.f32);
  expectNear(out[1].f32, out[2].f32);
}

// An epilogue's error names the epilogue op and its own location, not only
// the product it was fused into.
TEST(Lowering, EpilogueErrorNamesItsOpAndLocation) {
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {2, 4, 4, 3});
  int w = b.arg(ArgKind::Param, "w", {3, 3, 3, 8});
  int g = b.arg(ArgKind::Param, "g", {8});
  int be = b.arg(ArgKind::Param, "b", {8});
  int m = b.arg(ArgKind::State, "m", {8});
  int v = b.arg(ArgKind::State, "v", {8});
  int c = b.op("conv2d", {x, w}, {2, 4, 4, 8},
               {{"stride", {1, 1}}, {"padding", {1, 1}}});
  b.fn.nodes.back().loc = "model.toml:4:1";
  int y = b.op("batch_norm", {c, g, be, m, v}, {2, 4, 4, 8},
               {{"mtl.fused_epilogue", {1}}, {"training", {1}}});
  b.fn.nodes.back().loc = "model.toml:9:1";
  b.out(ArgKind::Prediction, "y", y);
  std::vector<HostTensor> out;
  std::string err = evaluate(b.fn, randomArgs(b.fn, 1), out);
  EXPECT_NE(err.find("model.toml:4:1"), std::string::npos) << err;
  EXPECT_NE(err.find("epilogue 'batch_norm' at model.toml:9:1"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("training mode"), std::string::npos) << err;
}

// mtlc build lowers a step function whole and then each segment: Halide
// renames the second Func of a name (`prediction_a$1`), which must not make
// the node's own result look like a passed-through value and be copied (an
// extra pass over every segment output).
TEST(Lowering, OutputNotCopiedWhenLoweredAgain) {
  Builder b;
  int x = b.arg(ArgKind::Input, "x", {3, 4});
  int y = b.op("relu", {x}, {3, 4});
  b.out(ArgKind::Prediction, "a", y);
  b.out(ArgKind::Prediction, "b", y);
  auto funcs = [](const Halide::Func &f) {
    return Halide::Internal::find_transitive_calls(f.function()).size();
  };
  size_t first = 0; // the relu and the input's Func
  for (int round = 0; round < 3; ++round) {
    LoweredFunction lf = lowerFunction(b.fn, isaTarget("avx2"));
    ASSERT_EQ(lf.outputs.size(), 2u);
    if (round == 0)
      first = funcs(lf.outputs[0]);
    EXPECT_EQ(funcs(lf.outputs[0]), first)
        << "round " << round << ": " << lf.outputs[0].name();
    EXPECT_EQ(funcs(lf.outputs[1]), first + 1) << "the second output copies";
  }
}

double gflops(const mtl::kg::Function &fn, const std::vector<HostTensor> &a,
              double flops) {
  std::vector<HostTensor> out;
  EXPECT_EQ(evaluate(fn, a, out), ""); // compile + warm up
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    evaluate(fn, a, out);
    best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - t0)
                              .count());
  }
  return flops / best * 1e-9;
}

TEST(Timing, ConvAndDenseGflops) {
  {
    Conv c{128, 14, 14, 32, 3, 3, 64, 1, 1, 1, 1};
    Builder b;
    int x = b.arg(ArgKind::Input, "x", {c.N, c.H, c.W, c.Ci});
    int w = b.arg(ArgKind::Param, "w", {3, 3, 32, 64});
    int dy = b.arg(ArgKind::Input, "dy", {c.N, 14, 14, 64});
    b.out(ArgKind::Prediction, "y",
          b.op("conv2d", {x, w}, {c.N, 14, 14, 64}, c.ints()));
    Builder bi = b, bw = b;
    bi.fn.outputs = {
        {ArgKind::Grad, "x",
         bi.op("conv2d_backward_input", {dy, w}, {c.N, 14, 14, 32}, c.ints())}};
    bw.fn.outputs = {
        {ArgKind::Grad, "w",
         bw.op("conv2d_backward_filter", {x, dy}, {3, 3, 32, 64}, c.ints())}};
    std::vector<HostTensor> a = {randomTensor({c.N, 14, 14, 32}, 1),
                                 randomTensor({3, 3, 32, 64}, 2),
                                 randomTensor({c.N, 14, 14, 64}, 3)};
    double f = 2.0 * c.N * 14 * 14 * 64 * 32 * 9;
    std::printf("[timing] conv 32->64 @14^2 N=128: fwd %.1f, grad-input %.1f, "
                "grad-filter %.1f GFLOP/s\n",
                gflops(b.fn, a, f), gflops(bi.fn, a, f), gflops(bw.fn, a, f));
  }
  {
    const int N = 128, K = 1568, M = 128;
    Builder b;
    int x = b.arg(ArgKind::Input, "x", {N, K});
    int w = b.arg(ArgKind::Param, "w", {K, M});
    int dy = b.arg(ArgKind::Input, "dy", {N, M});
    b.out(ArgKind::Prediction, "y", b.op("dense", {x, w}, {N, M}));
    Builder bi = b, bw = b;
    bi.fn.outputs = {
        {ArgKind::Grad, "x", bi.op("dense_backward_input", {dy, w}, {N, K})}};
    bw.fn.outputs = {
        {ArgKind::Grad, "w", bw.op("dense_backward_weight", {x, dy}, {K, M})}};
    std::vector<HostTensor> a = {randomTensor({N, K}, 1),
                                 randomTensor({K, M}, 2),
                                 randomTensor({N, M}, 3)};
    double f = 2.0 * N * K * M;
    std::printf("[timing] dense 128x1568x128: fwd %.1f, grad-input %.1f, "
                "grad-weight %.1f GFLOP/s\n",
                gflops(b.fn, a, f), gflops(bi.fn, a, f), gflops(bw.fn, a, f));
  }
}

} // namespace
