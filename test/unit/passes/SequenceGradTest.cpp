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

struct Steps {
  kg::Function train, eval;
  std::map<std::string, double> weights; // task -> weight
};

Steps compile(const std::string &source) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<MtlDialect, mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
  EXPECT_TRUE(module) << "test IR does not parse";
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module))) << "pipeline failed";
  Steps steps;
  auto train =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("train_step"),
                         StepKind::Train, "train_step");
  auto eval =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("model"),
                         StepKind::Eval, "eval_step");
  EXPECT_TRUE(mlir::succeeded(train) && mlir::succeeded(eval));
  steps.train = *train;
  steps.eval = *eval;
  module->walk([&](TaskOp task) {
    steps.weights[task.getName().str()] = task.getWeight().convertToDouble();
  });
  return steps;
}

int64_t numel(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

/// Random arguments: params and inputs uniform in [-1, 1] but at least 0.05
/// away from 0 (relu kinks); for `distinct` all values of a tensor differ by
/// >= 0.01 (max_pool kinks); targets in range; masks with a zero.
std::map<std::pair<kg::ArgKind, std::string>, HostTensor>
randomArgs(const kg::Function &fn, bool distinct, std::mt19937 &rng) {
  std::map<std::pair<kg::ArgKind, std::string>, HostTensor> args;
  for (const kg::Arg &arg : fn.args) {
    const kg::Value &v = fn.values[arg.value];
    HostTensor t;
    t.shape = v.shape;
    int64_t n = numel(v.shape);
    if (v.dtype == kg::DType::I32) {
      // Class ids for a [N] target of [N, C] logits: C found from the loss
      // node reading it.
      int64_t classes = 1;
      for (const kg::Node &node : fn.nodes)
        if (node.inputs.size() > 1 && node.inputs[1] == arg.value)
          classes = fn.values[node.inputs[0]].shape.back();
      for (int64_t i = 0; i < n; ++i)
        t.i32.push_back(
            std::uniform_int_distribution<int>(0, classes - 1)(rng));
    } else if (arg.kind == kg::ArgKind::Mask) {
      t.f32.assign(n, 1.0f);
      if (n > 1)
        t.f32[1] = 0.0f; // one sample without a label
    } else if (distinct) {
      std::vector<int> perm(n);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(-1.0f + 2.0f * (perm[i] + 0.5f) / n);
    } else {
      std::uniform_real_distribution<float> u(0.05f, 1.0f);
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(rng() % 2 ? u(rng) : -u(rng));
    }
    args[{arg.kind, arg.name}] = t;
  }
  return args;
}

std::vector<HostTensor> bindArgs(
    const kg::Function &fn,
    const std::map<std::pair<kg::ArgKind, std::string>, HostTensor> &args) {
  std::vector<HostTensor> bound;
  for (const kg::Arg &arg : fn.args)
    bound.push_back(args.at({arg.kind, arg.name}));
  return bound;
}

double objective(
    const Steps &steps,
    const std::map<std::pair<kg::ArgKind, std::string>, HostTensor> &args) {
  std::vector<HostTensor> outs;
  std::string err =
      codegen::evaluate(steps.eval, bindArgs(steps.eval, args), outs);
  EXPECT_EQ(err, "");
  double total = 0;
  for (size_t i = 0; i < steps.eval.outputs.size(); ++i)
    if (steps.eval.outputs[i].kind == kg::ArgKind::Loss)
      total += steps.weights.at(steps.eval.outputs[i].name) * outs[i].f32[0];
  return total;
}

/// Checks every parameter's gradient at up to `samples` coordinates.
using Args = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

void gradCheck(const std::string &source, bool distinct = false,
               int samples = 12,
               const std::function<void(Args &)> &fix = nullptr) {
  Steps steps = compile(source);
  std::mt19937 rng(42);
  auto args = randomArgs(steps.train, distinct, rng);
  if (fix)
    fix(args);
  std::vector<HostTensor> outs;
  ASSERT_EQ(codegen::evaluate(steps.train, bindArgs(steps.train, args), outs),
            "");
  int checked = 0;
  for (size_t o = 0; o < steps.train.outputs.size(); ++o) {
    const kg::Arg &out = steps.train.outputs[o];
    if (out.kind != kg::ArgKind::Grad)
      continue;
    HostTensor &param = args.at({kg::ArgKind::Param, out.name});
    const std::vector<float> &grad = outs[o].f32;
    ASSERT_EQ(grad.size(), param.f32.size()) << out.name;
    std::vector<size_t> coords(param.f32.size());
    std::iota(coords.begin(), coords.end(), 0);
    std::shuffle(coords.begin(), coords.end(), rng);
    coords.resize(std::min<size_t>(coords.size(), samples));
    for (size_t c : coords) {
      const float eps = 1e-3f, saved = param.f32[c];
      param.f32[c] = saved + eps;
      double plus = objective(steps, args);
      param.f32[c] = saved - eps;
      double minus = objective(steps, args);
      param.f32[c] = saved;
      double numeric = (plus - minus) / (2 * eps);
      double tol =
          2e-3 + 2e-2 * std::max(std::abs(numeric), std::abs(double(grad[c])));
      EXPECT_NEAR(grad[c], numeric, tol)
          << "d objective / d " << out.name << "[" << c << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

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
  for (size_t o = 0; o < steps.eval.outputs.size(); ++o) {
    if (steps.eval.outputs[o].kind != kg::ArgKind::Prediction)
      continue;
    const std::vector<float> &got = outs[o].f32;
    ASSERT_EQ(got.size(), seq ? want.size() : size_t(N) * H);
    for (int n = 0; n < N; ++n)
      for (int t = seq ? 0 : T - 1; t < T; ++t)
        for (int k = 0; k < H; ++k) {
          size_t gi = seq ? (size_t(n) * T + t) * H + k : size_t(n) * H + k;
          EXPECT_NEAR(got[gi], want[(size_t(n) * T + t) * H + k], 1e-5)
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

// An lstm hidden dim over 32 is summed in chunks (codegen/ops/Recurrent.cpp):
// H = 40 is two chunks of 20, H = 35 two of 18 with a short last one. The
// gru keeps one sum; H = 35 checks it too.
TEST(SequenceValue, LstmChunkedHidden) { checkForward(false, true, 5, 35); }
TEST(SequenceValue, GruWideHidden) { checkForward(true, false, 5, 35); }
TEST(SequenceGrad, LstmChunkedHidden) {
  gradCheck(recurrentModel(false, 2, 3, 2, 40, true), false, 8);
}
TEST(SequenceGrad, LstmChunkedRaggedHidden) {
  gradCheck(recurrentModel(false, 2, 3, 2, 35, false), false, 8);
}
TEST(SequenceGrad, GruWideHidden) {
  gradCheck(recurrentModel(true, 2, 3, 2, 35, true), false, 8);
}

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
