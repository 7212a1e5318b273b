//===- MLIRGen.h - Spec AST to the mtl dialect ------------------*- C++ -*-===//
#ifndef MTL_FRONTEND_MLIRGEN_H
#define MTL_FRONTEND_MLIRGEN_H

#include "frontend/Spec.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mtl {

/// Builds `func.func @model()` for the spec: its inputs, parameters, layers
/// (shapes inferred as they are built, so each layer's parameters get their
/// shapes), task losses and `mtl.task` declarations. Every op carries the
/// TOML location of its layer. Returns null after emitting an error.
mlir::OwningOpRef<mlir::ModuleOp> mlirGen(mlir::MLIRContext &context,
                                          const spec::Spec &spec);

} // namespace mtl

#endif // MTL_FRONTEND_MLIRGEN_H
