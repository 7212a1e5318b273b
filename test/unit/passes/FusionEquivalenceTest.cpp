//===- FusionEquivalenceTest.cpp - Fused builds compute the same step -----===//
//
// A three-head model (two dense heads and a conv head on one backbone) is
// compiled with every combination of the cross-task fusions; each train and
// eval step must give the losses, predictions and gradients of the unfused
// build, to 1e-4 relative, on the same parameters and batch.
//
//===----------------------------------------------------------------------===//
#include "codegen/Evaluate.h"
#include "ir/MtlOps.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

using namespace mtl;
using codegen::HostTensor;

namespace {

const char *kModel = R"(func.func @model() {
  %x = mtl.input "image" : tensor<4x6x6x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x4xf32>
  %b = mtl.param "c.bias" : tensor<4xf32>
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<4x6x6x1xf32>, tensor<3x3x1x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  %r = mtl.relu %c : (tensor<*xf32>) -> tensor<*xf32>
  %f = mtl.flatten %r : (tensor<*xf32>) -> tensor<*xf32>
  %w1 = mtl.param "a.weight" : tensor<144x5xf32>
  %b1 = mtl.param "a.bias" : tensor<5xf32>
  %y1 = mtl.dense %f, %w1, %b1 : (tensor<*xf32>, tensor<144x5xf32>, tensor<5xf32>) -> tensor<*xf32>
  %t1 = mtl.target "a" : tensor<4xi32>
  %m1 = mtl.mask "a" : tensor<4xf32>
  %l1 = mtl.softmax_cross_entropy %y1, %t1, %m1 : (tensor<*xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "a" loss(%l1 : tensor<*xf32>) prediction(%y1 : tensor<*xf32>) {weight = 0.7 : f64}
  %w2 = mtl.param "b.weight" : tensor<144x3xf32>
  %b2 = mtl.param "b.bias" : tensor<3xf32>
  %y2 = mtl.dense %f, %w2, %b2 : (tensor<*xf32>, tensor<144x3xf32>, tensor<3xf32>) -> tensor<*xf32>
  %t2 = mtl.target "b" : tensor<4x3xf32>
  %m2 = mtl.mask "b" : tensor<4xf32>
  %l2 = mtl.mse %y2, %t2, %m2 : (tensor<*xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "b" loss(%l2 : tensor<*xf32>) prediction(%y2 : tensor<*xf32>)
  %k1 = mtl.param "s.weight" : tensor<3x3x4x2xf32>
  %s1 = mtl.conv2d %r, %k1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<*xf32>, tensor<3x3x4x2xf32>) -> tensor<*xf32>
  %k2 = mtl.param "s2.weight" : tensor<3x3x4x1xf32>
  %s2 = mtl.conv2d %r, %k2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<*xf32>, tensor<3x3x4x1xf32>) -> tensor<*xf32>
  %t3 = mtl.target "s" : tensor<4x6x6x2xf32>
  %m3 = mtl.mask "s" : tensor<4xf32>
  %l3 = mtl.mse %s1, %t3, %m3 : (tensor<*xf32>, tensor<4x6x6x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "s" loss(%l3 : tensor<*xf32>) prediction(%s1 : tensor<*xf32>)
  %t4 = mtl.target "s2" : tensor<4x6x6x1xf32>
  %m4 = mtl.mask "s2" : tensor<4xf32>
  %l4 = mtl.mse %s2, %t4, %m4 : (tensor<*xf32>, tensor<4x6x6x1xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "s2" loss(%l4 : tensor<*xf32>) prediction(%s2 : tensor<*xf32>) {weight = 2.0 : f64}
  return
})";

struct Build {
  kg::Function train, eval;
  int concats = 0; // evidence that the fusion happened
};

Build compile(const FusionOptions &fusion) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<MtlDialect, mlir::func::FuncDialect>();
  // The fusions report what they did as remarks: not errors.
  mlir::ScopedDiagnosticHandler quiet(&ctx, [](mlir::Diagnostic &d) {
    return mlir::success(d.getSeverity() == mlir::DiagnosticSeverity::Remark);
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kModel, &ctx);
  EXPECT_TRUE(module);
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm, fusion);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  Build b;
  b.train = *lowerToKernelGraph(
      module->lookupSymbol<mlir::func::FuncOp>("train_step"), StepKind::Train,
      "train_step");
  b.eval =
      *lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("model"),
                          StepKind::Eval, "eval_step");
  for (const kg::Node &n : b.train.nodes)
    b.concats += n.op == "concat";
  return b;
}

using Args = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

Args randomArgs(const kg::Function &fn) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  Args args;
  for (const kg::Arg &a : fn.args) {
    const kg::Value &v = fn.values[a.value];
    HostTensor t;
    t.shape = v.shape;
    size_t n = 1;
    for (int64_t d : v.shape)
      n *= d;
    if (v.dtype == kg::DType::I32)
      for (size_t i = 0; i < n; ++i)
        t.i32.push_back(int(rng() % 3));
    else if (a.kind == kg::ArgKind::Mask)
      t.f32.assign(n, 1.0f);
    else
      for (size_t i = 0; i < n; ++i)
        t.f32.push_back(u(rng));
    args[{a.kind, a.name}] = t;
  }
  return args;
}

/// Runs `fn` on `args`; outputs by (kind, name).
Args run(const kg::Function &fn, const Args &args) {
  std::vector<HostTensor> in, out;
  for (const kg::Arg &a : fn.args)
    in.push_back(args.at({a.kind, a.name}));
  EXPECT_EQ(codegen::evaluate(fn, in, out), "");
  Args byName;
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    byName[{fn.outputs[i].kind, fn.outputs[i].name}] = out[i];
  return byName;
}

void expectSame(const Args &fused, const Args &reference, const char *what) {
  ASSERT_EQ(fused.size(), reference.size()) << what;
  for (const auto &[key, ref] : reference) {
    const HostTensor &got = fused.at(key);
    ASSERT_EQ(got.f32.size(), ref.f32.size());
    double maxAbs = 1e-6, maxDiff = 0;
    for (size_t i = 0; i < ref.f32.size(); ++i) {
      maxAbs = std::max(maxAbs, double(std::abs(ref.f32[i])));
      maxDiff = std::max(maxDiff, double(std::abs(got.f32[i] - ref.f32[i])));
    }
    EXPECT_LE(maxDiff / maxAbs, 1e-4)
        << what << ": " << kg::toString(key.first) << " '" << key.second
        << "' differs from the unfused build";
  }
}

class FusionEquivalence : public ::testing::TestWithParam<FusionOptions> {};

TEST_P(FusionEquivalence, SameLossesPredictionsAndGradients) {
  Build reference = compile({/*heads=*/false, /*join=*/false});
  Build fused = compile(GetParam());
  EXPECT_EQ(reference.concats, 0);
  EXPECT_GT(fused.concats, 0) << "the fusion did not apply";
  Args args = randomArgs(reference.train);
  expectSame(run(fused.train, args), run(reference.train, args), "train_step");
  expectSame(run(fused.eval, args), run(reference.eval, args), "eval_step");
}

INSTANTIATE_TEST_SUITE_P(Fusions, FusionEquivalence,
                         ::testing::Values(FusionOptions{true, false},
                                           FusionOptions{false, true},
                                           FusionOptions{true, true}),
                         [](const auto &info) {
                           return std::string(info.param.heads ? "heads"
                                                               : "noheads") +
                                  "_" + (info.param.join ? "join" : "nojoin");
                         });

} // namespace
