//===- MtlOps.h - Ops of the mtl dialect ------------------------*- C++ -*-===//
#ifndef MTL_IR_MTLOPS_H
#define MTL_IR_MTLOPS_H

#include "ir/MtlDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ir/MtlInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ir/MtlOps.h.inc"

namespace mtl {
/// Sets the result type of a ShapeInference op from its operands. Emits an
/// error at the op and fails when the operands are impossible or still
/// unranked.
mlir::LogicalResult inferResultTypeInPlace(mlir::Operation *op);
} // namespace mtl

#endif // MTL_IR_MTLOPS_H
