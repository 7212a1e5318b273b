//===- ShapeUtils.cpp - Helpers shared by the shape rules and verifiers ---===//
#include "ir/ShapeUtils.h"

using namespace mlir;

namespace mtl::detail {

std::optional<ArrayRef<int64_t>> shapeOf(Value v) {
  if (!v)
    return std::nullopt;
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t)
    return std::nullopt;
  return t.getShape();
}

std::string str(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Type f32Tensor(Operation *op, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, Float32Type::get(op->getContext()));
}

LogicalResult checkPair(Operation *op, ArrayRef<int64_t> v, StringRef what,
                        int64_t min) {
  if (v.size() != 2)
    return op->emitError() << what << " must have 2 values [h, w], got "
                           << v.size();
  for (int64_t x : v)
    if (x < min)
      return op->emitError()
             << what << " must be >= " << min << ", got " << str(v);
  return success();
}

FailureOr<SmallVector<int64_t, 2>> poolPadding(Operation *op,
                                               DenseI64ArrayAttr padding,
                                               ArrayRef<int64_t> kernel) {
  SmallVector<int64_t, 2> p{0, 0};
  if (!padding)
    return p;
  if (failed(checkPair(op, padding.asArrayRef(), "padding", 0)))
    return failure();
  p.assign(padding.asArrayRef().begin(), padding.asArrayRef().end());
  if (p[0] >= kernel[0] || p[1] >= kernel[1])
    return op->emitError() << op->getName().stripDialect()
                           << " padding must be smaller than the kernel";
  return p;
}

LogicalResult verifyInferred(ShapeInference op) {
  FailureOr<Type> inferred = op.inferResultType();
  if (failed(inferred))
    return failure();
  Type actual = op->getResult(0).getType();
  if (!*inferred || !isa<RankedTensorType>(actual) || actual == *inferred)
    return success();
  return op->emitOpError() << "result type " << actual
                           << " does not match the inferred type " << *inferred;
}

} // namespace mtl::detail
