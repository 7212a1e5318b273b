//===- MtlOps.cpp - Verifiers of the mtl ops ------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

#include "ir/MtlInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "ir/MtlOps.cpp.inc"

namespace {

ArrayRef<int64_t> shape(Value v) {
  return cast<ShapedType>(v.getType()).getShape();
}

bool ranked(ValueRange values) {
  return llvm::all_of(
      values, [](Value v) { return isa<RankedTensorType>(v.getType()); });
}
} // namespace

LogicalResult Conv2DOp::verify() { return verifyInferred(*this); }
LogicalResult DenseOp::verify() { return verifyInferred(*this); }
LogicalResult ReluOp::verify() { return verifyInferred(*this); }
LogicalResult MaxPoolOp::verify() { return verifyInferred(*this); }
LogicalResult MaxPoolArgmaxOp::verify() { return verifyInferred(*this); }
LogicalResult FlattenOp::verify() { return verifyInferred(*this); }
LogicalResult SoftmaxCrossEntropyOp::verify() { return verifyInferred(*this); }
LogicalResult MseOp::verify() { return verifyInferred(*this); }

LogicalResult MaskOp::verify() {
  auto t = dyn_cast<RankedTensorType>(getType());
  if (t && t.getRank() != 1)
    return emitOpError() << "mask must be a rank-1 tensor [batch], got " << t;
  return success();
}

LogicalResult ParamOp::verify() {
  static const char *inits[] = {"he_normal", "glorot_uniform", "zeros", "ones"};
  // "values:v1,v2,...": explicit values (the spec's bias_init), one value
  // broadcast or one per element.
  StringRef init = getInit();
  if (init.consume_front("values:")) {
    SmallVector<StringRef> parts;
    init.split(parts, ',');
    auto t = dyn_cast<RankedTensorType>(getType());
    double unused;
    for (StringRef p : parts)
      if (p.trim().getAsDouble(unused))
        return emitOpError() << "malformed init value '" << p << "'";
    if (t && t.hasStaticShape() && parts.size() != 1 &&
        static_cast<int64_t>(parts.size()) != t.getNumElements())
      return emitOpError() << "init has " << parts.size() << " values for "
                           << t.getNumElements() << " elements";
  } else if (!llvm::is_contained(inits, getInit())) {
    return emitOpError() << "unknown init '" << getInit()
                         << "' (he_normal, glorot_uniform, zeros, ones, "
                            "values:v1,v2,...)";
  }
  if (!isa<RankedTensorType>(getType()))
    return emitOpError() << "parameter '" << getName()
                         << "' must have a static shape";
  return success();
}

LogicalResult StateOp::verify() {
  if (getInit() != "zeros" && getInit() != "ones")
    return emitOpError() << "unknown init '" << getInit()
                         << "' for a state (zeros, ones)";
  if (!isa<RankedTensorType>(getType()))
    return emitOpError() << "state '" << getName()
                         << "' must have a static shape";
  return success();
}

LogicalResult StateUpdateOp::verify() {
  Operation *fn = (*this)->getParentOp();
  StateOp state;
  fn->walk([&](StateOp s) {
    if (s.getName() == getName())
      state = s;
  });
  if (!state)
    return emitOpError() << "updates unknown state '" << getName() << "'";
  if (state.getType() != getValue().getType())
    return emitOpError() << "new value " << getValue().getType()
                         << " does not match state '" << getName() << "' "
                         << state.getType();
  return success();
}

LogicalResult TaskOp::verify() {
  auto loss = dyn_cast<RankedTensorType>(getLoss().getType());
  if (loss && loss.getRank() != 0)
    return emitOpError() << "loss must be a scalar tensor<f32>, got " << loss;
  if (getWeight().convertToDouble() <= 0)
    return emitOpError() << "task '" << getName()
                         << "' weight must be > 0, got "
                         << getWeight().convertToDouble();
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = dyn_cast<RankedTensorType>(getInput().getType());
  auto out = dyn_cast<RankedTensorType>(getType());
  if (in && out && in.getNumElements() != out.getNumElements())
    return emitOpError() << "cannot reshape " << in << " ("
                         << in.getNumElements() << " elements) to " << out
                         << " (" << out.getNumElements() << " elements)";
  return success();
}

LogicalResult JoinOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one gradient";
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient ops: their result has the type of what they differentiate; check
// that the operands agree with it.
//===----------------------------------------------------------------------===//

LogicalResult Conv2DBackwardInputOp::verify() {
  if (!ranked(getOperation()->getOperands()) || !ranked(getResult()))
    return emitOpError() << "operands and result must be ranked";
  auto dy = shape(getGradOutput()), w = shape(getFilter()),
       dx = shape(getResult());
  if (dy.size() != 4 || w.size() != 4 || dx.size() != 4)
    return emitOpError() << "expects rank-4 grad_output, filter and result";
  auto s = getStride(), p = getPadding(), d = getDilation();
  int64_t g = getGroups();
  if (dy[0] != dx[0] || dy[3] != w[3] || dx[3] != w[2] * g)
    return emitOpError() << "batch or channel sizes disagree";
  if ((dx[1] + 2 * p[0] - (w[0] - 1) * d[0] - 1) / s[0] + 1 != dy[1] ||
      (dx[2] + 2 * p[1] - (w[1] - 1) * d[1] - 1) / s[1] + 1 != dy[2])
    return emitOpError() << "result spatial size does not map to grad_output";
  return success();
}

LogicalResult Conv2DBackwardFilterOp::verify() {
  if (!ranked(getOperation()->getOperands()) || !ranked(getResult()))
    return emitOpError() << "operands and result must be ranked";
  auto x = shape(getInput()), dy = shape(getGradOutput()),
       dw = shape(getResult());
  if (x.size() != 4 || dy.size() != 4 || dw.size() != 4)
    return emitOpError() << "expects rank-4 input, grad_output and result";
  auto s = getStride(), p = getPadding(), d = getDilation();
  int64_t g = getGroups();
  if (x[0] != dy[0] || dw[2] * g != x[3] || dw[3] != dy[3])
    return emitOpError() << "batch or channel sizes disagree";
  if ((x[1] + 2 * p[0] - (dw[0] - 1) * d[0] - 1) / s[0] + 1 != dy[1] ||
      (x[2] + 2 * p[1] - (dw[1] - 1) * d[1] - 1) / s[1] + 1 != dy[2])
    return emitOpError() << "filter size does not map input to grad_output";
  return success();
}

LogicalResult BiasGradOp::verify() {
  auto dy = dyn_cast<RankedTensorType>(getGradOutput().getType());
  auto db = dyn_cast<RankedTensorType>(getType());
  if (dy && db &&
      (db.getRank() != 1 || dy.getRank() < 1 ||
       db.getDimSize(0) != dy.getDimSize(dy.getRank() - 1)))
    return emitOpError() << "result must be [" << dy.getShape().back()
                         << "], got " << db;
  return success();
}

LogicalResult DenseBackwardInputOp::verify() {
  if (!ranked(getOperation()->getOperands()) || !ranked(getResult()))
    return emitOpError() << "operands and result must be ranked";
  auto dy = shape(getGradOutput()), w = shape(getWeight()),
       dx = shape(getResult());
  if (dy.size() != 2 || w.size() != 2 || dx.size() != 2 || dy[1] != w[1] ||
      dx[0] != dy[0] || dx[1] != w[0])
    return emitOpError() << "expects dy [N, M], w [K, M] and result [N, K]";
  return success();
}

LogicalResult DenseBackwardWeightOp::verify() {
  if (!ranked(getOperation()->getOperands()) || !ranked(getResult()))
    return emitOpError() << "operands and result must be ranked";
  auto x = shape(getInput()), dy = shape(getGradOutput()),
       dw = shape(getResult());
  if (x.size() != 2 || dy.size() != 2 || dw.size() != 2 || x[0] != dy[0] ||
      dw[0] != x[1] || dw[1] != dy[1])
    return emitOpError() << "expects x [N, K], dy [N, M] and result [K, M]";
  return success();
}

LogicalResult ReluGradOp::verify() {
  if (getGradOutput().getType() != getOutput().getType() ||
      getType() != getOutput().getType())
    return emitOpError() << "grad_output, output and result must agree";
  return success();
}

LogicalResult MaxPoolGradOp::verify() {
  if (getType() != getInput().getType())
    return emitOpError() << "result must have the input's type";
  if (Value a = getArgmax()) {
    auto at = dyn_cast<RankedTensorType>(a.getType());
    auto dt = dyn_cast<RankedTensorType>(getGradOutput().getType());
    if (at && dt && at.getShape() != dt.getShape())
      return emitOpError() << "argmax must have the pooled shape of "
                              "grad_output";
  }
  return success();
}

LogicalResult SoftmaxCrossEntropyGradOp::verify() {
  if (getType() != getLogits().getType())
    return emitOpError() << "result must have the logits' type";
  return success();
}

LogicalResult MseGradOp::verify() {
  if (getType() != getPrediction().getType() ||
      getTarget().getType() != getPrediction().getType())
    return emitOpError() << "prediction, target and result must agree";
  return success();
}
