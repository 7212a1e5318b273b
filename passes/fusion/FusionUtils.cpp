//===- FusionUtils.cpp - Shared pieces of the cross-task fusions ----------===//
#include "passes/fusion/FusionUtils.h"
#include "ir/MtlOps.h"

#include <algorithm>
#include <cstdio>

using namespace mlir;

namespace mtl::fusion {

RankedTensorType withLastDim(Type type, int64_t last) {
  auto t = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = last;
  return RankedTensorType::get(shape, t.getElementType());
}

int64_t lastDim(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

Value concatLast(OpBuilder &b, Location loc, ValueRange values) {
  int64_t total = 0;
  for (Value v : values)
    total += lastDim(v);
  return b.create<ConcatOp>(loc, withLastDim(values.front().getType(), total),
                            values);
}

Operation *cloneWith(OpBuilder &b, Operation *like, ValueRange operands,
                     Type result) {
  OperationState state(like->getLoc(), like->getName());
  state.addOperands(operands);
  state.addAttributes(like->getAttrs());
  state.addTypes(result);
  return b.create(state);
}

bool sameKind(Operation *a, Operation *b) {
  return a->getName() == b->getName() &&
         a->getNumOperands() == b->getNumOperands() &&
         a->getAttrDictionary() == b->getAttrDictionary();
}

int64_t byteSize(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape())
    return 0;
  return t.getNumElements() *
         std::max<int64_t>(1, t.getElementTypeBitWidth() / 8);
}

std::string formatBytes(int64_t bytes) {
  char buf[32];
  if (bytes >= 1000000)
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  else if (bytes >= 1000)
    std::snprintf(buf, sizeof buf, "%.1f KB", bytes / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

} // namespace mtl::fusion
