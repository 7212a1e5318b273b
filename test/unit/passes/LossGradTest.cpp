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
