//===- ShapeUtils.h - Helpers shared by the shape rules and verifiers -----===//
#ifndef MTL_IR_SHAPEUTILS_H
#define MTL_IR_SHAPEUTILS_H

#include "ir/MtlOps.h"

#include <optional>
#include <string>

namespace mtl::detail {

/// The shape of `v` if it is a ranked tensor, else nullopt (also for null).
std::optional<llvm::ArrayRef<int64_t>> shapeOf(mlir::Value v);

/// "[2, 3, 4]", the way messages print shapes.
std::string str(llvm::ArrayRef<int64_t> shape);

/// tensor<shape x f32>.
mlir::Type f32Tensor(mlir::Operation *op, llvm::ArrayRef<int64_t> shape);

/// A [h, w] attribute (stride, padding, kernel) with every value >= min.
mlir::LogicalResult checkPair(mlir::Operation *op, llvm::ArrayRef<int64_t> v,
                              llvm::StringRef what, int64_t min);

/// A pool's optional `padding` ([0, 0] when absent): a valid pair, each
/// value below the kernel's (a window of padding only has no value).
mlir::FailureOr<llvm::SmallVector<int64_t, 2>>
poolPadding(mlir::Operation *op, mlir::DenseI64ArrayAttr padding,
            llvm::ArrayRef<int64_t> kernel);

/// A forward op is valid when its shape rule accepts the operands and the
/// result is unranked (not inferred yet) or exactly the inferred type.
mlir::LogicalResult verifyInferred(ShapeInference op);

} // namespace mtl::detail

#endif // MTL_IR_SHAPEUTILS_H
