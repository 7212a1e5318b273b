//===- FusionUtils.h - Shared pieces of the cross-task fusions --*- C++ -*-===//
//
// Both fusions turn T products that share one operand into one product over
// operands concatenated along their last axis (weights [K, M] / [KH, KW, Ci,
// Co], gradients [N, M] / [N, H, W, Co]), slicing the result back where each
// task needs its own part.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_PASSES_FUSION_FUSIONUTILS_H
#define MTL_PASSES_FUSION_FUSIONUTILS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <string>

namespace mtl::fusion {

/// `type` with its last dimension replaced by `last`.
mlir::RankedTensorType withLastDim(mlir::Type type, int64_t last);

/// The last dimension of a ranked tensor value.
int64_t lastDim(mlir::Value v);

/// mtl.concat of `values` along the last axis.
mlir::Value concatLast(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::ValueRange values);

/// A copy of `like` (same name and attributes) on new operands and result
/// type, built at `b`'s insertion point.
mlir::Operation *cloneWith(mlir::OpBuilder &b, mlir::Operation *like,
                           mlir::ValueRange operands, mlir::Type result);

/// Whether two ops have the same name, operand count and attributes.
bool sameKind(mlir::Operation *a, mlir::Operation *b);

/// Bytes of a statically shaped tensor value (0 for anything else).
int64_t byteSize(mlir::Value v);

/// "12.3 MB" / "45.6 KB" / "789 B", for the fusion remarks.
std::string formatBytes(int64_t bytes);

} // namespace mtl::fusion

#endif // MTL_PASSES_FUSION_FUSIONUTILS_H
