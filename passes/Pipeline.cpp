//===- Pipeline.cpp - The pass pipeline of mtlc build ---------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

void mtl::buildTrainingPipeline(mlir::OpPassManager &pm) {
  pm.addNestedPass<mlir::func::FuncOp>(createMtlShapeInference());
  pm.addPass(createMtlAutodiff());
  pm.addPass(mlir::createCSEPass());
}
