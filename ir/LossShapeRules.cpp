//===- LossShapeRules.cpp - Shape rules and verifiers of ir/LossOps.td ----===//
//
// The messages are read by spec authors (the op's location is a TOML task),
// so they speak of heads, targets and shapes.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

namespace {

/// Checks the mask against the batch and returns the scalar loss type.
FailureOr<Type> scalarLoss(Operation *op, ArrayRef<int64_t> pred,
                           Value maskValue) {
  auto mask = shapeOf(maskValue);
  if (mask && (mask->size() != 1 || (*mask)[0] != pred[0]))
    return op->emitError() << "loss mask must be [" << pred[0] << "], got "
                           << str(*mask);
  return RankedTensorType::get({}, Float32Type::get(op->getContext()));
}

/// prediction and target of the same shape, rank >= 1.
FailureOr<Type> elementLoss(Operation *op, StringRef name, Value p, Value t,
                            Value mask) {
  auto ps = shapeOf(p), ts = shapeOf(t);
  if (!ps || !ts)
    return Type();
  if (ps->empty() || *ps != *ts)
    return op->emitError() << name
                           << " expects a target shaped like the prediction "
                           << str(*ps) << ", got " << str(*ts);
  return scalarLoss(op, *ps, mask);
}

FailureOr<Type> boxLoss(Operation *op, StringRef name, Value p, Value t,
                        Value mask) {
  auto ps = shapeOf(p), ts = shapeOf(t);
  if (!ps || !ts)
    return Type();
  if (ps->size() != 2 || (*ps)[1] != 4)
    return op->emitError() << name
                           << " expects predicted boxes [batch, 4] (x0, y0, "
                              "x1, y1), got "
                           << str(*ps) << "; end the head with a dense layer "
                           << "of 4 units";
  if (*ts != *ps)
    return op->emitError() << name << " expects target boxes " << str(*ps)
                           << ", got " << str(*ts);
  return scalarLoss(op, *ps, mask);
}

/// Gradient ops: the result has the prediction's type, the target too.
LogicalResult verifyLossGrad(Operation *op, Value p, Value t) {
  if (op->getResult(0).getType() != p.getType() || t.getType() != p.getType())
    return op->emitOpError() << "prediction, target and result must agree";
  return success();
}
} // namespace

FailureOr<Type> SigmoidCrossEntropyOp::inferResultType() {
  return elementLoss(*this, "sigmoid_cross_entropy", getPrediction(),
                     getTarget(), getMask());
}
FailureOr<Type> L1Op::inferResultType() {
  return elementLoss(*this, "l1", getPrediction(), getTarget(), getMask());
}
FailureOr<Type> SmoothL1Op::inferResultType() {
  if (getBeta().convertToDouble() < 0)
    return emitError() << "smooth_l1 beta must be >= 0, got "
                       << getBeta().convertToDouble();
  return elementLoss(*this, "smooth_l1", getPrediction(), getTarget(),
                     getMask());
}
FailureOr<Type> IouLossOp::inferResultType() {
  return boxLoss(*this, "iou_loss", getPrediction(), getTarget(), getMask());
}
FailureOr<Type> GiouLossOp::inferResultType() {
  return boxLoss(*this, "giou_loss", getPrediction(), getTarget(), getMask());
}
FailureOr<Type> KlDivergenceOp::inferResultType() {
  auto m = shapeOf(getMean()), lv = shapeOf(getLogvar());
  if (!m || !lv)
    return Type();
  if (m->size() != 2)
    return emitError() << "kl_divergence expects a mean [batch, latent], got "
                       << str(*m);
  if (*lv != *m)
    return emitError() << "kl_divergence expects a logvar shaped like the "
                          "mean "
                       << str(*m) << ", got " << str(*lv);
  return scalarLoss(*this, *m, getMask());
}

LogicalResult SigmoidCrossEntropyOp::verify() { return verifyInferred(*this); }
LogicalResult L1Op::verify() { return verifyInferred(*this); }
LogicalResult SmoothL1Op::verify() { return verifyInferred(*this); }
LogicalResult IouLossOp::verify() { return verifyInferred(*this); }
LogicalResult GiouLossOp::verify() { return verifyInferred(*this); }
LogicalResult KlDivergenceOp::verify() { return verifyInferred(*this); }

LogicalResult SigmoidCrossEntropyGradOp::verify() {
  return verifyLossGrad(*this, getPrediction(), getTarget());
}
LogicalResult L1GradOp::verify() {
  return verifyLossGrad(*this, getPrediction(), getTarget());
}
LogicalResult SmoothL1GradOp::verify() {
  if (getBeta().convertToDouble() < 0)
    return emitOpError() << "beta must be >= 0";
  return verifyLossGrad(*this, getPrediction(), getTarget());
}
LogicalResult IouLossGradOp::verify() {
  return verifyLossGrad(*this, getPrediction(), getTarget());
}
LogicalResult GiouLossGradOp::verify() {
  return verifyLossGrad(*this, getPrediction(), getTarget());
}
LogicalResult KlDivergenceMeanGradOp::verify() {
  return verifyLossGrad(*this, getMean(), getLogvar());
}
LogicalResult KlDivergenceLogvarGradOp::verify() {
  return verifyLossGrad(*this, getLogvar(), getMean());
}
