//===- TrainModeOps.cpp - Shape rules and verifiers of TrainModeOps.td ---===//
//
// batch_norm (and the ops of its training expansion), dropout,
// reparameterize and their gradient ops. Messages speak of layers and
// shapes: spec authors read them.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

namespace {

/// `v` is `[c]` (or still unranked).
LogicalResult checkChannelVector(Operation *op, Value v, int64_t c,
                                 StringRef what) {
  auto s = shapeOf(v);
  if (s && (s->size() != 1 || (*s)[0] != c))
    return op->emitError() << op->getName().stripDialect() << " " << what
                           << " must be [" << c << "], got " << str(*s);
  return success();
}

/// The rank >= 2 input of a per-channel op, or an error.
FailureOr<std::optional<ArrayRef<int64_t>>> channelInput(Operation *op,
                                                         Value v) {
  auto x = shapeOf(v);
  if (x && x->size() < 2) {
    op->emitError() << op->getName().stripDialect()
                    << " expects an input [batch, ..., channels] of rank >= "
                       "2, got "
                    << str(*x);
    return failure();
  }
  return x;
}

LogicalResult checkEps(Operation *op, double eps) {
  if (!(eps > 0))
    return op->emitError() << op->getName().stripDialect()
                           << " eps must be > 0, got " << eps;
  return success();
}
LogicalResult checkMomentum(Operation *op, double m) {
  if (!(m >= 0 && m <= 1))
    return op->emitError() << op->getName().stripDialect()
                           << " momentum must be in [0, 1], got " << m;
  return success();
}

/// `stats` is `[2, c]`.
LogicalResult checkStats(Operation *op, Value stats, int64_t c) {
  auto s = shapeOf(stats);
  if (s && (s->size() != 2 || (*s)[0] != 2 || (*s)[1] != c))
    return op->emitError() << op->getName().stripDialect()
                           << " stats must be [2, " << c << "], got "
                           << str(*s);
  return success();
}
} // namespace

//===- Shape rules --------------------------------------------------------===//

FailureOr<Type> BatchNormOp::inferResultType() {
  if (failed(checkEps(*this, getEps().convertToDouble())) ||
      failed(checkMomentum(*this, getMomentum().convertToDouble())))
    return failure();
  auto x = channelInput(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  int64_t c = (*x)->back();
  if (failed(checkChannelVector(*this, getGamma(), c, "gamma")) ||
      failed(checkChannelVector(*this, getBeta(), c, "beta")) ||
      failed(checkChannelVector(*this, getRunningMean(), c, "running_mean")) ||
      failed(checkChannelVector(*this, getRunningVar(), c, "running_var")))
    return failure();
  return f32Tensor(*this, **x);
}

FailureOr<Type> BatchStatsOp::inferResultType() {
  auto x = channelInput(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  return f32Tensor(*this, {2, (*x)->back()});
}

FailureOr<Type> BatchNormTrainOp::inferResultType() {
  if (failed(checkEps(*this, getEps().convertToDouble())))
    return failure();
  auto x = channelInput(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  int64_t c = (*x)->back();
  if (failed(checkStats(*this, getStats(), c)) ||
      failed(checkChannelVector(*this, getGamma(), c, "gamma")) ||
      failed(checkChannelVector(*this, getBeta(), c, "beta")))
    return failure();
  return f32Tensor(*this, **x);
}

FailureOr<Type> BatchNormUpdateStatOp::inferResultType() {
  if (failed(checkMomentum(*this, getMomentum().convertToDouble())))
    return failure();
  if (getRow() != 0 && getRow() != 1)
    return emitError() << "batch_norm_update_stat row must be 0 (mean) or 1 "
                          "(variance), got "
                       << getRow();
  if (getCount() < 1)
    return emitError() << "batch_norm_update_stat count must be >= 1, got "
                       << getCount();
  auto r = shapeOf(getRunning());
  if (!r)
    return Type();
  if (r->size() != 1)
    return emitError() << "batch_norm_update_stat running must be [C], got "
                       << str(*r);
  if (failed(checkStats(*this, getStats(), (*r)[0])))
    return failure();
  return f32Tensor(*this, *r);
}

FailureOr<Type> DropoutOp::inferResultType() {
  double rate = getRate().convertToDouble();
  if (!(rate >= 0 && rate < 1))
    return emitError() << "dropout rate must be in [0, 1), got " << rate;
  auto x = shapeOf(getInput());
  if (!x)
    return Type();
  return f32Tensor(*this, *x);
}

FailureOr<Type> ReparameterizeOp::inferResultType() {
  auto m = shapeOf(getMean()), lv = shapeOf(getLogvar());
  if (!m || !lv)
    return Type();
  if (*m != *lv)
    return emitError() << "reparameterize mean and logvar must have the same "
                          "shape, got "
                       << str(*m) << " and " << str(*lv);
  return f32Tensor(*this, *m);
}

//===- Verifiers ----------------------------------------------------------===//

LogicalResult BatchNormOp::verify() { return verifyInferred(*this); }
LogicalResult BatchStatsOp::verify() { return verifyInferred(*this); }
LogicalResult BatchNormUpdateStatOp::verify() { return verifyInferred(*this); }
LogicalResult DropoutOp::verify() { return verifyInferred(*this); }
LogicalResult ReparameterizeOp::verify() { return verifyInferred(*this); }

LogicalResult BatchNormTrainOp::verify() {
  if (failed(verifyInferred(*this)))
    return failure();
  // The gradient rule differentiates through the statistics of x: they
  // must be those of this very x.
  auto stats = getStats().getDefiningOp<BatchStatsOp>();
  if (!stats || stats.getInput() != getInput())
    return emitOpError() << "stats must be the mtl.batch_stats of its input";
  return success();
}

LogicalResult BatchNormGradGammaOp::verify() {
  if (getGradOutput().getType() != getInput().getType())
    return emitOpError() << "grad_output and input must have the same type";
  auto x = shapeOf(getInput()), r = shapeOf(getResult());
  if (x && r && (x->size() < 2 || r->size() != 1 || (*r)[0] != x->back()))
    return emitOpError() << "result must be [C], C the last dimension of x";
  if (x && failed(checkStats(*this, getStats(), x->back())))
    return failure();
  return success();
}

LogicalResult BatchNormBackwardInputOp::verify() {
  if (getGradOutput().getType() != getInput().getType() ||
      getInput().getType() != getResult().getType())
    return emitOpError()
           << "grad_output, input and result must have the same type";
  auto x = shapeOf(getInput());
  if (!x)
    return success();
  if (x->size() < 2)
    return emitOpError() << "expects an input of rank >= 2";
  int64_t c = x->back();
  if (failed(checkStats(*this, getStats(), c)) ||
      failed(checkChannelVector(*this, getGamma(), c, "gamma")) ||
      failed(checkChannelVector(*this, getGradGamma(), c, "grad_gamma")) ||
      failed(checkChannelVector(*this, getGradBeta(), c, "grad_beta")))
    return failure();
  return success();
}

LogicalResult ReparameterizeGradOp::verify() {
  if (getGradOutput().getType() != getResult().getType() ||
      getLogvar().getType() != getResult().getType())
    return emitOpError()
           << "grad_output, logvar and result must have the same type";
  return success();
}
