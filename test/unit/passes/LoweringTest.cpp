//===- LoweringTest.cpp - What the kernel-graph lowering hands codegen ----===//
#include "ir/MtlOps.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace mtl;

namespace {
const char *kModel = R"(func.func @model() {
  %x = mtl.input "image" : tensor<4x3xf32>
  %w = mtl.param "d.weight" {init = "glorot_uniform"} : tensor<3x2xf32>
  %s = mtl.state "d.shift" {init = "ones"} : tensor<2xf32>
  %y = mtl.dense %x, %w, %s : (tensor<4x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<*xf32>
  %t = mtl.target "t" : tensor<4xi32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.softmax_cross_entropy %y, %t, %m : (tensor<*xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "t" loss(%l : tensor<*xf32>) prediction(%y : tensor<*xf32>)
  return
})";

struct Lowered {
  kg::Function train, eval, predict;
};

Lowered lower(const char *source, bool addStateUpdate) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<MtlDialect, mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
  EXPECT_TRUE(module);
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  auto train = module->lookupSymbol<mlir::func::FuncOp>("train_step");
  if (addStateUpdate) {
    // What a training expansion (e.g. batch_norm) would add.
    StateOp state = *train.getOps<StateOp>().begin();
    mlir::OpBuilder b(train.front().getTerminator());
    b.create<StateUpdateOp>(state.getLoc(), state.getName(), state.getResult());
  }
  auto model = module->lookupSymbol<mlir::func::FuncOp>("model");
  Lowered l;
  l.train = *lowerToKernelGraph(train, StepKind::Train, "train_step");
  l.eval = *lowerToKernelGraph(model, StepKind::Eval, "eval_step");
  l.predict = *lowerToKernelGraph(model, StepKind::Predict, "predict");
  return l;
}

std::vector<std::string> kinds(const std::vector<kg::Arg> &args) {
  std::vector<std::string> out;
  for (const kg::Arg &a : args)
    out.push_back(std::string(kg::toString(a.kind)) + ":" + a.name +
                  (a.init.empty() ? "" : "=" + a.init));
  return out;
}
} // namespace

TEST(Lowering, ArgumentsAndOutputsPerStep) {
  Lowered l = lower(kModel, /*addStateUpdate=*/true);
  using V = std::vector<std::string>;
  EXPECT_EQ(kinds(l.train.args),
            (V{"input:image", "target:t", "mask:t",
               "param:d.weight=glorot_uniform", "state:d.shift=ones"}));
  EXPECT_EQ(kinds(l.train.outputs), (V{"loss:t", "prediction:t",
                                       "grad:d.weight", "state_out:d.shift"}));
  EXPECT_EQ(kinds(l.eval.outputs), (V{"loss:t", "prediction:t"}));
  // Inference needs neither targets nor masks nor the loss.
  EXPECT_EQ(kinds(l.predict.args),
            (V{"input:image", "param:d.weight=glorot_uniform",
               "state:d.shift=ones"}));
  EXPECT_EQ(kinds(l.predict.outputs), (V{"prediction:t"}));
  for (const kg::Node &n : l.predict.nodes)
    EXPECT_NE(n.op, "softmax_cross_entropy");
}

TEST(Lowering, StateIsNotDifferentiated) {
  Lowered l = lower(kModel, /*addStateUpdate=*/false);
  for (const kg::Arg &o : l.train.outputs)
    EXPECT_NE(o.name, "d.shift") << kg::toString(o.kind);
  for (const kg::Node &n : l.train.nodes)
    EXPECT_NE(n.op, "bias_grad");
}
