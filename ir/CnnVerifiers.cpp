//===- CnnVerifiers.cpp - Verifiers of the CNN ops ------------------------===//
//
// Forward ops: their shape rule (CnnShapeRules.cpp) accepts the operands and
// the result is unranked or the inferred type. Gradient ops: the result has
// the type of what they differentiate; check the operands agree with it.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

namespace {

RankedTensorType rankedOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// Every value given has the same type as the result.
LogicalResult sameTypes(Operation *op, std::initializer_list<Value> values,
                        const char *what) {
  for (Value v : values)
    if (v.getType() != op->getResult(0).getType())
      return op->emitOpError() << what << " must have the same type";
  return success();
}

LogicalResult nhwcPair(Operation *op, Value dy, Value dx) {
  auto a = rankedOf(dy), b = rankedOf(dx);
  if (!a || !b)
    return op->emitOpError() << "operands and result must be ranked";
  if (a.getRank() != 4 || b.getRank() != 4 ||
      a.getDimSize(0) != b.getDimSize(0) || a.getDimSize(3) != b.getDimSize(3))
    return op->emitOpError()
           << "expects NHWC grad_output and result with equal N and C";
  return success();
}
} // namespace

LogicalResult LeakyReluOp::verify() { return verifyInferred(*this); }
LogicalResult SigmoidOp::verify() { return verifyInferred(*this); }
LogicalResult TanhOp::verify() { return verifyInferred(*this); }
LogicalResult GeluOp::verify() { return verifyInferred(*this); }
LogicalResult SoftmaxOp::verify() { return verifyInferred(*this); }
LogicalResult LayerNormOp::verify() { return verifyInferred(*this); }
LogicalResult AvgPoolOp::verify() { return verifyInferred(*this); }
LogicalResult GlobalAvgPoolOp::verify() { return verifyInferred(*this); }
LogicalResult UpsampleOp::verify() { return verifyInferred(*this); }
LogicalResult ConcatOp::verify() { return verifyInferred(*this); }
LogicalResult AddOp::verify() { return verifyInferred(*this); }
LogicalResult ConvTranspose2DOp::verify() { return verifyInferred(*this); }

LogicalResult LeakyReluGradOp::verify() {
  return sameTypes(*this, {getGradOutput(), getInput()},
                   "grad_output, input and result");
}
LogicalResult SigmoidGradOp::verify() {
  return sameTypes(*this, {getGradOutput(), getOutput()},
                   "grad_output, output and result");
}
LogicalResult TanhGradOp::verify() {
  return sameTypes(*this, {getGradOutput(), getOutput()},
                   "grad_output, output and result");
}
LogicalResult GeluGradOp::verify() {
  return sameTypes(*this, {getGradOutput(), getInput()},
                   "grad_output, input and result");
}
LogicalResult SoftmaxGradOp::verify() {
  return sameTypes(*this, {getGradOutput(), getOutput()},
                   "grad_output, output and result");
}

LogicalResult LayerNormGradInputOp::verify() {
  if (failed(sameTypes(*this, {getGradOutput(), getInput()},
                       "grad_output, input and result")))
    return failure();
  auto x = rankedOf(getInput()), g = rankedOf(getGamma());
  if (x && g &&
      (g.getRank() != 1 || x.getRank() < 1 ||
       g.getDimSize(0) != x.getDimSize(x.getRank() - 1)))
    return emitOpError() << "gamma must be [C], C the last dimension of x";
  return success();
}

LogicalResult LayerNormGradGammaOp::verify() {
  if (getGradOutput().getType() != getInput().getType())
    return emitOpError() << "grad_output and input must have the same type";
  auto x = rankedOf(getInput()), r = rankedOf(getResult());
  if (x && r &&
      (r.getRank() != 1 || x.getRank() < 1 ||
       r.getDimSize(0) != x.getDimSize(x.getRank() - 1)))
    return emitOpError() << "result must be [C], C the last dimension of x";
  return success();
}

LogicalResult AvgPoolGradOp::verify() {
  if (failed(nhwcPair(*this, getGradOutput(), getResult())))
    return failure();
  auto dy = rankedOf(getGradOutput()).getShape(),
       dx = rankedOf(getResult()).getShape();
  auto k = getKernel(), s = getStride();
  if (k.size() != 2 || s.size() != 2 || k[0] < 1 || k[1] < 1 || s[0] < 1 ||
      s[1] < 1)
    return emitOpError() << "kernel and stride must be 2 positive values";
  int64_t ph = 0, pw = 0;
  if (auto pad = getPaddingAttr()) {
    if (pad.size() != 2 || pad[0] < 0 || pad[1] < 0)
      return emitOpError() << "padding must be 2 non-negative values";
    ph = pad[0], pw = pad[1];
  }
  if ((dx[1] + 2 * ph - k[0]) / s[0] + 1 != dy[1] ||
      (dx[2] + 2 * pw - k[1]) / s[1] + 1 != dy[2])
    return emitOpError() << "result spatial size does not map to grad_output";
  return success();
}

LogicalResult GlobalAvgPoolGradOp::verify() {
  auto dy = rankedOf(getGradOutput()), dx = rankedOf(getResult());
  if (!dy || !dx)
    return emitOpError() << "operands and result must be ranked";
  if (dy.getRank() != 2 || dx.getRank() != 4 ||
      dy.getDimSize(0) != dx.getDimSize(0) ||
      dy.getDimSize(1) != dx.getDimSize(3))
    return emitOpError()
           << "expects grad_output [N, C] and result [N, H, W, C]";
  return success();
}

LogicalResult UpsampleGradOp::verify() {
  if (failed(nhwcPair(*this, getGradOutput(), getResult())))
    return failure();
  auto dy = rankedOf(getGradOutput()).getShape(),
       dx = rankedOf(getResult()).getShape();
  auto k = getScale();
  if (k.size() != 2 || dx[1] * k[0] != dy[1] || dx[2] * k[1] != dy[2])
    return emitOpError() << "grad_output must be the result scaled by 'scale'";
  if (getMode() != "nearest" && getMode() != "bilinear")
    return emitOpError() << "mode must be 'nearest' or 'bilinear'";
  return success();
}

LogicalResult SliceChannelsOp::verify() {
  auto x = rankedOf(getInput()), r = rankedOf(getResult());
  if (!x || !r)
    return emitOpError() << "operand and result must be ranked";
  if (x.getRank() != r.getRank() || x.getRank() < 1 ||
      x.getShape().drop_back() != r.getShape().drop_back())
    return emitOpError() << "result must have the input's shape but in the "
                            "last dimension";
  int64_t off = getOffset();
  if (off < 0 || off + r.getShape().back() > x.getShape().back())
    return emitOpError() << "channels [" << off << ", "
                         << off + r.getShape().back()
                         << ") are out of the input's " << x.getShape().back();
  return success();
}
