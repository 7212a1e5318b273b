//===- SequenceGradTest.cpp - Gradient checks of lstm and gru ------------===//
//
// Backward through time (lstm_backward / gru_backward + dense algebra on
// their slices) against central finite differences, on tiny sizes (T = 3),
// with and without return_sequences, a batch that is not a multiple of the
// vector width, and the forward values against a direct C++ evaluation of
// PyTorch's equations.
//
// The helpers are a copy of GradCheckTest.cpp's until they move to
// GradCheck.h.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"
#include "codegen/Evaluate.h"
#include "ir/MtlOps.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>

using namespace mtl;
using codegen::HostTensor;

namespace {

using namespace mtl::gradcheck;

std::string ty(std::vector<int64_t> s) {
  std::string r = "tensor<";
  for (int64_t d : s)
    r += std::to_string(d) + "x";
  return r + "f32>";
}

/// @model: x (a param, so dx is checked too) -> lstm/gru -> mse.
std::string recurrentModel(bool gru, int N, int T, int F, int H, bool seq,
                           bool xIsInput = false) {
  int G = (gru ? 3 : 4) * H;
  std::string x = ty({N, T, F}), wi = ty({F, G}), wh = ty({H, G}), b = ty({G});
  std::vector<int64_t> ys =
      seq ? std::vector<int64_t>{N, T, H} : std::vector<int64_t>{N, H};
  std::string s = "func.func @model() {\n";
  s += xIsInput ? "  %x = mtl.input \"image\" : " + x + "\n"
                : "  %x = mtl.param \"x\" : " + x + "\n";
  s += "  %wi = mtl.param \"wi\" : " + wi + "\n";
  s += "  %wh = mtl.param \"wh\" : " + wh + "\n";
  s += "  %b = mtl.param \"b\" : " + b + "\n";
  std::string attrs = seq ? " {return_sequences = true}" : "";
  if (gru) {
    s += "  %bh = mtl.param \"bh\" : " + b + "\n";
    s += "  %y = mtl.gru %x, %wi, %wh, %b, %bh" + attrs + " : (" + x + ", " +
         wi + ", " + wh + ", " + b + ", " + b + ") -> tensor<*xf32>\n";
  } else {
    s += "  %y = mtl.lstm %x, %wi, %wh, %b" + attrs + " : (" + x + ", " + wi +
         ", " + wh + ", " + b + ") -> tensor<*xf32>\n";
  }
  std::string yt = ty(ys);
  std::string nb = "tensor<" + std::to_string(N) + "xf32>";
  s += "  %t = mtl.target \"t\" : " + yt + "\n";
  s += "  %m = mtl.mask \"t\" : " + nb + "\n";
  s += "  %l = mtl.mse %y, %t, %m : (tensor<*xf32>, " + yt + ", " + nb +
       ") -> tensor<*xf32>\n";
  s += "  mtl.task \"t\" loss(%l : tensor<*xf32>) prediction(%y : "
       "tensor<*xf32>) {weight = 1.5 : f64}\n  return\n}\n";
  return s;
}

float sig(float x) { return 1.0f / (1.0f + std::exp(-x)); }

/// PyTorch's equations, directly: returns every h_t, [N, T, H].
std::vector<float> reference(bool gru, int N, int T, int F, int H, Args &a) {
  const auto &x = a.at({kg::ArgKind::Input, "image"}).f32;
  const auto &wi = a.at({kg::ArgKind::Param, "wi"}).f32;
  const auto &wh = a.at({kg::ArgKind::Param, "wh"}).f32;
  const auto &bi = a.at({kg::ArgKind::Param, "b"}).f32;
  int G = (gru ? 3 : 4) * H;
  std::vector<float> out(size_t(N) * T * H);
  for (int n = 0; n < N; ++n) {
    std::vector<float> h(H, 0.0f), c(H, 0.0f);
    for (int t = 0; t < T; ++t) {
      std::vector<float> xi(G), hh(G);
      for (int j = 0; j < G; ++j) {
        xi[j] = bi[j];
        for (int f = 0; f < F; ++f)
          xi[j] += x[(size_t(n) * T + t) * F + f] * wi[f * G + j];
        hh[j] = 0;
        for (int m = 0; m < H; ++m)
          hh[j] += h[m] * wh[m * G + j];
      }
      std::vector<float> hn(H);
      for (int k = 0; k < H; ++k) {
        if (gru) {
          const auto &bh = a.at({kg::ArgKind::Param, "bh"}).f32;
          float r = sig(xi[k] + hh[k] + bh[k]);
          float z = sig(xi[H + k] + hh[H + k] + bh[H + k]);
          float nn =
              std::tanh(xi[2 * H + k] + r * (hh[2 * H + k] + bh[2 * H + k]));
          hn[k] = (1 - z) * nn + z * h[k];
        } else {
          float i = sig(xi[k] + hh[k]), f = sig(xi[H + k] + hh[H + k]);
          float g = std::tanh(xi[2 * H + k] + hh[2 * H + k]);
          float o = sig(xi[3 * H + k] + hh[3 * H + k]);
          c[k] = f * c[k] + i * g;
          hn[k] = o * std::tanh(c[k]);
        }
      }
      h = hn;
      for (int k = 0; k < H; ++k)
        out[(size_t(n) * T + t) * H + k] = h[k];
    }
  }
  return out;
}

void checkForward(bool gru, bool seq, int N = 5, int H = 6) {
  const int T = 4, F = 3;
  Steps steps = compile(recurrentModel(gru, N, T, F, H, seq, true));
  std::mt19937 rng(7);
  Args args = randomArgs(steps.eval, false, rng);
  std::vector<HostTensor> outs;
  ASSERT_EQ(codegen::evaluate(steps.eval, bindArgs(steps.eval, args), outs),
            "");
  std::vector<float> want = reference(gru, N, T, F, H, args);
  // Float sums of F + H terms, in another order than the reference's: over
  // 256 terms (H = 261) the gru's last step differs by up to 1.1e-5.
  const double tol = H > 256 ? 4e-5 : 1e-5;
  for (size_t o = 0; o < steps.eval.outputs.size(); ++o) {
    if (steps.eval.outputs[o].kind != kg::ArgKind::Prediction)
      continue;
    const std::vector<float> &got = outs[o].f32;
    ASSERT_EQ(got.size(), seq ? want.size() : size_t(N) * H);
    for (int n = 0; n < N; ++n)
      for (int t = seq ? 0 : T - 1; t < T; ++t)
        for (int k = 0; k < H; ++k) {
          size_t gi = seq ? (size_t(n) * T + t) * H + k : size_t(n) * H + k;
          EXPECT_NEAR(got[gi], want[(size_t(n) * T + t) * H + k], tol)
              << "n=" << n << " t=" << t << " k=" << k;
        }
  }
}

} // namespace

TEST(SequenceValue, LstmMatchesPyTorchEquations) { checkForward(false, true); }
TEST(SequenceValue, LstmLastState) { checkForward(false, false); }
TEST(SequenceValue, GruMatchesPyTorchEquations) { checkForward(true, true); }
TEST(SequenceValue, GruLastState) { checkForward(true, false); }

TEST(SequenceGrad, LstmSequences) {
  gradCheck(recurrentModel(false, 2, 3, 4, 3, true), false, 10);
}
TEST(SequenceGrad, LstmLastState) {
  gradCheck(recurrentModel(false, 3, 3, 2, 4, false), false, 10);
}
TEST(SequenceGrad, GruSequences) {
  gradCheck(recurrentModel(true, 2, 3, 4, 3, true), false, 10);
}
TEST(SequenceGrad, GruLastState) {
  gradCheck(recurrentModel(true, 3, 3, 2, 4, false), false, 10);
}
TEST(SequenceGrad, LstmVectorized) {
  // 32 samples: two vectors of 16 lanes.
  gradCheck(recurrentModel(false, 32, 3, 2, 2, true), false, 8);
}

TEST(SequenceValue, GruVectorized) { checkForward(true, false, 16); }

// An lstm step sums F + H terms over an RVar, unrolled up to 256 terms
// (codegen/ops/Recurrent.cpp), 8 at a time beyond when they divide, else
// one: H = 35 and 40 fully unrolled; H = 261 (F = 3: 264 terms forward, 261
// backward) 8 and 1 at a time, the selects on the term's index not folded.
TEST(SequenceValue, LstmWideHidden) { checkForward(false, true, 5, 35); }
TEST(SequenceValue, LstmSumsNotUnrolled) { checkForward(false, true, 5, 261); }
TEST(SequenceValue, GruWideHidden) { checkForward(true, false, 5, 35); }
TEST(SequenceGrad, LstmWideHidden) {
  gradCheck(recurrentModel(false, 2, 3, 2, 40, true), false, 8);
}
TEST(SequenceGrad, LstmRaggedHidden) {
  gradCheck(recurrentModel(false, 2, 3, 2, 35, false), false, 8);
}
TEST(SequenceGrad, LstmSumsNotUnrolled) {
  gradCheck(recurrentModel(false, 2, 2, 2, 261, false), false, 6);
}
// With 32 vector registers (AVX-512) an even H sums 2 units per pass over
// the terms (stepDomain): H = 264, the backward's 264 terms 8 at a time
// inside the unit pair, the forward's 267 one at a time.
TEST(SequenceValue, LstmUnitPairsNotUnrolled) {
  checkForward(false, true, 5, 264);
}
TEST(SequenceGrad, LstmUnitPairsNotUnrolled) {
  gradCheck(recurrentModel(false, 2, 2, 2, 264, false), false, 6);
}
// Two vectors of samples (the register tile) with the sums unrolled, and
// the results transposed 8 samples at a time.
TEST(SequenceValue, LstmVectorizedUnrolled) {
  checkForward(false, true, 16, 16);
}
TEST(SequenceGrad, LstmVectorizedUnrolled) {
  gradCheck(recurrentModel(false, 16, 3, 2, 16, true), false, 8);
}
TEST(SequenceGrad, GruWideHidden) {
  gradCheck(recurrentModel(true, 2, 3, 2, 35, true), false, 8);
}
// The gru's step sums have the lstm's scheme: beyond 256 terms not
// unrolled (the selects on the term kept), and two vectors of samples.
TEST(SequenceValue, GruSumsNotUnrolled) { checkForward(true, true, 5, 261); }
TEST(SequenceGrad, GruSumsNotUnrolled) {
  gradCheck(recurrentModel(true, 2, 2, 2, 261, false), false, 6);
}
TEST(SequenceValue, GruVectorizedUnrolled) { checkForward(true, true, 16, 16); }
TEST(SequenceGrad, GruVectorizedUnrolled) {
  gradCheck(recurrentModel(true, 16, 3, 2, 16, true), false, 8);
}

// mtl-save-recurrent-state: the lstm's and gru's backward read the
// forward's saved state (lstm_state, gru_state) instead of recomputing the
// recurrence. Every output of the train step (loss, prediction, each
// gradient) matches the recomputing build's; the gradient checks above run
// the saved form.
void checkSavedState(bool gru) {
  const std::string cell = gru ? "gru" : "lstm";
  for (bool seq : {false, true}) {
    const std::string src = recurrentModel(gru, 16, 5, 3, 16, seq);
    FusionOptions recompute;
    recompute.saveStates = false;
    Steps saved = compile(src), again = compile(src, recompute);
    auto count = [](const kg::Function &fn, const std::string &op) {
      return std::count_if(fn.nodes.begin(), fn.nodes.end(),
                           [&](const kg::Node &n) { return n.op == op; });
    };
    ASSERT_EQ(count(saved.train, cell + "_state"), 1);
    ASSERT_EQ(count(saved.train, cell), 0);
    ASSERT_EQ(count(again.train, cell + "_state"), 0);
    ASSERT_EQ(count(again.train, cell), 1);
    std::mt19937 rng(3);
    auto args = randomArgs(saved.train, false, rng);
    std::vector<HostTensor> a, b;
    ASSERT_EQ(codegen::evaluate(saved.train, bindArgs(saved.train, args), a),
              "");
    ASSERT_EQ(codegen::evaluate(again.train, bindArgs(again.train, args), b),
              "");
    ASSERT_EQ(a.size(), b.size());
    for (size_t o = 0; o < a.size(); ++o) {
      ASSERT_EQ(saved.train.outputs[o].name, again.train.outputs[o].name);
      ASSERT_EQ(a[o].f32.size(), b[o].f32.size());
      for (size_t i = 0; i < a[o].f32.size(); ++i)
        ASSERT_NEAR(a[o].f32[i], b[o].f32[i],
                    1e-5 * std::max(1.0f, std::fabs(b[o].f32[i])))
            << cell << " " << saved.train.outputs[o].name << "[" << i
            << "] seq=" << seq;
    }
  }
}
TEST(SequenceGrad, LstmSavedStateMatchesRecomputed) { checkSavedState(false); }
TEST(SequenceGrad, GruSavedStateMatchesRecomputed) { checkSavedState(true); }

TEST(SequenceGrad, StackedLstmIntoGru) {
  gradCheck(R"(func.func @model() {
  %x = mtl.input "image" : tensor<2x3x4xf32>
  %w1 = mtl.param "l1.wi" : tensor<4x12xf32>
  %u1 = mtl.param "l1.wh" : tensor<3x12xf32>
  %b1 = mtl.param "l1.b" : tensor<12xf32>
  %h = mtl.lstm %x, %w1, %u1, %b1 {return_sequences = true} : (tensor<2x3x4xf32>, tensor<4x12xf32>, tensor<3x12xf32>, tensor<12xf32>) -> tensor<*xf32>
  %w2 = mtl.param "g.wi" : tensor<3x6xf32>
  %u2 = mtl.param "g.wh" : tensor<2x6xf32>
  %b2 = mtl.param "g.bi" : tensor<6xf32>
  %c2 = mtl.param "g.bh" : tensor<6xf32>
  %y = mtl.gru %h, %w2, %u2, %b2, %c2 : (tensor<*xf32>, tensor<3x6xf32>, tensor<2x6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<*xf32>
  %t = mtl.target "t" : tensor<2x2xf32>
  %m = mtl.mask "t" : tensor<2xf32>
  %l = mtl.mse %y, %t, %m : (tensor<*xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<*xf32>
  mtl.task "t" loss(%l : tensor<*xf32>) prediction(%y : tensor<*xf32>) {weight = 1.0 : f64}
  return
})",
            false, 8);
}
