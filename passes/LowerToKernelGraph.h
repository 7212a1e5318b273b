//===- LowerToKernelGraph.h - mtl functions to codegen's input --*- C++ -*-===//
#ifndef MTL_PASSES_LOWERTOKERNELGRAPH_H
#define MTL_PASSES_LOWERTOKERNELGRAPH_H

#include "codegen/KernelGraph.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mtl {

/// Which outputs a step function returns.
enum class StepKind {
  Train,   // task losses, predictions and every parameter gradient
  Eval,    // task losses and predictions
  Predict, // predictions only (losses, targets and masks are dropped)
};

/// Lowers `fn` (shapes inferred; for Train, after mtl-autodiff) to the plain
/// kernel graph codegen consumes, keeping only the ops its outputs need.
mlir::FailureOr<kg::Function>
lowerToKernelGraph(mlir::func::FuncOp fn, StepKind kind, llvm::StringRef name);

} // namespace mtl

#endif // MTL_PASSES_LOWERTOKERNELGRAPH_H
