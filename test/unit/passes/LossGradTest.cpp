//===- LossGradTest.cpp - Gradient checks of the task losses -------------===//
//
// sigmoid cross-entropy, L1, smooth L1, IoU / GIoU, KL divergence and
// softmax cross-entropy with label smoothing: the real passes (shape
// inference, autodiff) and the real Halide lowering (JIT) against central
// finite differences of the eval step's loss, masked samples included.
//
// The helpers are a copy of GradCheckTest.cpp's (plus a hook that fixes
// arguments, e.g. valid boxes) until they move to GradCheck.h.
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

/// A @model with one param %p [shape] and one loss `op` against a target
/// of the same shape (or `targetShape`), weight 1.5.
std::string lossModel(const std::string &op, const std::string &shape,
                      int64_t batch, const std::string &attrs = "") {
  std::string b = std::to_string(batch);
  std::string p = "tensor<" + shape + "xf32>";
  return "func.func @model() {\n"
         "  %p = mtl.param \"p\" : " +
         p +
         "\n"
         "  %t = mtl.target \"t\" : " +
         p +
         "\n"
         "  %m = mtl.mask \"t\" : tensor<" +
         b +
         "xf32>\n"
         "  %l = mtl." +
         op + " %p, %t, %m " + attrs + " : (" + p + ", " + p + ", tensor<" + b +
         "xf32>) -> tensor<*xf32>\n"
         "  mtl.task \"t\" loss(%l : tensor<*xf32>) prediction(%p : " +
         p +
         ") {weight = 1.5 : f64}\n"
         "  return\n}\n";
}

HostTensor &argOf(Args &args, kg::ArgKind kind, const std::string &name) {
  return args.at({kind, name});
}

} // namespace

TEST(LossGrad, SigmoidCrossEntropy) {
  gradCheck(lossModel("sigmoid_cross_entropy", "4x3", 4), false, 12,
            [](Args &args) {
              // Targets in [0, 1], some exactly 0 or 1.
              auto &t = argOf(args, kg::ArgKind::Target, "t").f32;
              for (size_t i = 0; i < t.size(); ++i)
                t[i] = i % 3 == 0 ? float(i % 2) : std::abs(t[i]);
            });
}

TEST(LossGrad, SigmoidCrossEntropyLargeLogits) {
  // The stable form: no overflow for |x| = 30.
  gradCheck(lossModel("sigmoid_cross_entropy", "2x2x3", 2), false, 12,
            [](Args &args) {
              auto &p = argOf(args, kg::ArgKind::Param, "p").f32;
              p[0] = 30.0f, p[1] = -30.0f;
              auto &t = argOf(args, kg::ArgKind::Target, "t").f32;
              for (float &v : t)
                v = std::abs(v);
            });
}

TEST(LossGrad, L1) { gradCheck(lossModel("l1", "4x3", 4)); }

TEST(LossGrad, SmoothL1DefaultBeta) {
  // |p - t| spans both sides of beta = 1 (values in [-1, 1] each).
  gradCheck(lossModel("smooth_l1", "4x5", 4), false, 20);
}

TEST(LossGrad, SmoothL1SmallBeta) {
  gradCheck(lossModel("smooth_l1", "3x2x4", 3, "{beta = 0.25 : f64}"), false,
            20);
}

TEST(LossGrad, SmoothL1BetaZeroIsL1) {
  gradCheck(lossModel("smooth_l1", "4x3", 4, "{beta = 0.0 : f64}"));
}

/// Valid boxes: predictions overlap their targets in sample 0 and 2, are
/// disjoint from them in sample 1 and 3 (IoU 0: only GIoU has a gradient).
void boxes(Args &args) {
  auto &p = argOf(args, kg::ArgKind::Param, "p").f32;
  auto &t = argOf(args, kg::ArgKind::Target, "t").f32;
  p = {0.10f, 0.20f, 0.50f, 0.60f, 0.10f, 0.10f, 0.30f, 0.35f,
       0.20f, 0.15f, 0.70f, 0.55f, 0.60f, 0.50f, 0.90f, 0.95f};
  t = {0.25f, 0.05f, 0.65f, 0.45f, 0.50f, 0.55f, 0.80f, 0.90f,
       0.22f, 0.18f, 0.60f, 0.65f, 0.05f, 0.10f, 0.40f, 0.30f};
}

TEST(LossGrad, IouLoss) {
  gradCheck(lossModel("iou_loss", "4x4", 4), false, 16, boxes);
}

TEST(LossGrad, GiouLoss) {
  gradCheck(lossModel("giou_loss", "4x4", 4), false, 16, boxes);
}

TEST(LossGrad, GiouLossInvertedPrediction) {
  // A predicted box with x1 < x0 has zero width; GIoU still pulls it.
  gradCheck(lossModel("giou_loss", "4x4", 4), false, 16, [](Args &args) {
    boxes(args);
    auto &p = argOf(args, kg::ArgKind::Param, "p").f32;
    std::swap(p[0], p[2]);
  });
}

TEST(LossGrad, KlDivergence) {
  gradCheck(R"(func.func @model() {
  %mu = mtl.param "mu" : tensor<3x4xf32>
  %lv = mtl.param "lv" : tensor<3x4xf32>
  %m = mtl.mask "kl" : tensor<3xf32>
  %l = mtl.kl_divergence %mu, %lv, %m : (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<*xf32>
  mtl.task "kl" loss(%l : tensor<*xf32>) prediction(%mu : tensor<3x4xf32>) {weight = 0.5 : f64}
  return
})");
}

TEST(LossGrad, SoftmaxCrossEntropyLabelSmoothing) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "logits" : tensor<4x5xf32>
  %t = mtl.target "t" : tensor<4xi32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.softmax_cross_entropy %x, %t, %m {label_smoothing = 0.1 : f64} : (tensor<4x5xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "t" loss(%l : tensor<*xf32>) prediction(%x : tensor<4x5xf32>) {weight = 0.7 : f64}
  return
})",
            false, 20);
}

/// Loss values against a direct evaluation (not only their gradients).
double evalLoss(const std::string &source, Args &args) {
  Steps steps = compile(source);
  std::vector<HostTensor> outs;
  EXPECT_EQ(codegen::evaluate(steps.eval, bindArgs(steps.eval, args), outs),
            "");
  return outs.at(0).f32.at(0);
}

TEST(LossValue, GiouAndIouOfKnownBoxes) {
  // p = (0, 0, 2, 2), t = (1, 1, 3, 3): I = 1, U = 7, C = 9.
  Args args;
  args[{kg::ArgKind::Param, "p"}] = {{2, 4}, {0, 0, 2, 2, 1, 1, 3, 3}, {}};
  args[{kg::ArgKind::Target, "t"}] = {{2, 4}, {1, 1, 3, 3, 0, 0, 1, 1}, {}};
  args[{kg::ArgKind::Mask, "t"}] = {{2}, {1, 0}, {}};
  EXPECT_NEAR(evalLoss(lossModel("iou_loss", "2x4", 2), args), 1 - 1 / 7.0,
              1e-5);
  EXPECT_NEAR(evalLoss(lossModel("giou_loss", "2x4", 2), args),
              1 - 1 / 7.0 + 2 / 9.0, 1e-5);
}

TEST(LossValue, SmoothL1AndSigmoidCrossEntropy) {
  Args args;
  args[{kg::ArgKind::Param, "p"}] = {{2, 2}, {0.5f, 3.0f, 100.0f, 0.0f}, {}};
  args[{kg::ArgKind::Target, "t"}] = {{2, 2}, {0.0f, 1.0f, 1.0f, 0.0f}, {}};
  args[{kg::ArgKind::Mask, "t"}] = {{2}, {1, 1}, {}};
  // smooth L1, beta 1: 0.125, 1.5, 98.5, 0 -> mean 100.125 / 4.
  EXPECT_NEAR(evalLoss(lossModel("smooth_l1", "2x2", 2), args), 100.125 / 4,
              1e-4);
  double bce = (std::log1p(std::exp(0.5)) + std::log1p(std::exp(-3.0)) +
                std::log1p(std::exp(-100.0)) + std::log(2.0)) /
               4;
  EXPECT_NEAR(evalLoss(lossModel("sigmoid_cross_entropy", "2x2", 2), args), bce,
              1e-5);
}
