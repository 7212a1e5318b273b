//===- TrainModeGrad.cpp - batch_norm, dropout, reparameterize ------------===//
//
// Training expansion of batch_norm (runs before differentiation):
//   %s  = mtl.batch_stats %x                         mean, biased var [2, C]
//   %y  = mtl.batch_norm_train %x, %s, %gamma, %beta
//   %m' = mtl.batch_norm_update_stat %running_mean, %s {row = 0}
//   %v' = mtl.batch_norm_update_stat %running_var, %s {row = 1, count}
//   mtl.state_update "NAME.running_mean"(%m'), "NAME.running_var"(%v')
// The statistics only reach the objective through batch_norm_train, whose
// rule gives the total gradient of x (through mean and variance too):
//   dbeta  = bias_grad(dy)                     = sum dy
//   dgamma = batch_norm_grad_gamma(dy, x, s)   = sum dy * xh
//   dx     = batch_norm_backward_input(dy, x, s, gamma, dgamma, dbeta)
//          = gamma inv (dy - dbeta / M - xh dgamma / M)
// so the statistics need no gradient rule of their own.
//
// dropout is linear in x with a mask regenerated from (seed, stream,
// index): dx = dropout(dy) with the same attributes.
// reparameterize: dmean = dy, dlogvar = reparameterize_grad(dy, logvar).
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

namespace {

LogicalResult expandBatchNorm(Operation *op, OpBuilder &b) {
  auto bn = cast<mtl::BatchNormOp>(op);
  Location loc = bn.getLoc();
  auto x = dyn_cast<RankedTensorType>(bn.getInput().getType());
  if (!x || !x.hasStaticShape())
    return bn.emitError() << "batch_norm in training mode needs a static "
                             "input shape (run mtl-shape-inference)";
  auto rm = bn.getRunningMean().getDefiningOp<mtl::StateOp>();
  auto rv = bn.getRunningVar().getDefiningOp<mtl::StateOp>();
  if (!rm || !rv)
    return bn.emitError() << "batch_norm in training mode needs its running "
                             "statistics to be mtl.state tensors";
  int64_t count = 1;
  for (int64_t d : x.getShape().drop_back())
    count *= d;
  int64_t c = x.getShape().back();
  auto statsType = RankedTensorType::get({2, c}, x.getElementType());
  Value stats = b.create<mtl::BatchStatsOp>(loc, statsType, bn.getInput());
  Value y = b.create<mtl::BatchNormTrainOp>(loc, bn.getType(), bn.getInput(),
                                            stats, bn.getGamma(), bn.getBeta(),
                                            bn.getEpsAttr());
  auto update = [&](mtl::StateOp state, int64_t row) {
    Value v = b.create<mtl::BatchNormUpdateStatOp>(
        loc, state.getType(), state.getResult(), stats,
        b.getI64IntegerAttr(row), b.getI64IntegerAttr(count),
        bn.getMomentumAttr());
    b.create<mtl::StateUpdateOp>(loc, state.getName(), v);
  };
  update(rm, 0);
  update(rv, 1);
  bn.getResult().replaceAllUsesWith(y);
  bn.erase();
  return success();
}

void batchNormTrainGrad(mtl::autodiff::GradContext &ctx,
                        SmallVectorImpl<Value> &grads) {
  auto bn = cast<mtl::BatchNormTrainOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  Location loc = bn.getLoc();
  Value dy = ctx.resultGrad;
  bool dx = ctx.needsGrad[0], dg = ctx.needsGrad[2], db = ctx.needsGrad[3];
  if (!dx && !dg && !db)
    return;
  // dgamma before dbeta: codegen then computes sum(dy) in dgamma's pass
  // over dy (codegen/ops/TrainMode.cpp, lowerBatchNormGradGamma).
  Value dgamma = b.create<mtl::BatchNormGradGammaOp>(
      loc, bn.getGamma().getType(), dy, bn.getInput(), bn.getStats(),
      bn.getEpsAttr());
  Value dbeta = b.create<mtl::BiasGradOp>(loc, bn.getBeta().getType(), dy);
  if (dx)
    grads[0] = b.create<mtl::BatchNormBackwardInputOp>(
        loc, bn.getInput().getType(), dy, bn.getInput(), bn.getStats(),
        bn.getGamma(), dgamma, dbeta, bn.getEpsAttr());
  // grads[1] (the statistics) stays null: dx already goes through them.
  if (dg)
    grads[2] = dgamma;
  if (db)
    grads[3] = dbeta;
}

void dropoutGrad(mtl::autodiff::GradContext &ctx,
                 SmallVectorImpl<Value> &grads) {
  auto d = cast<mtl::DropoutOp>(ctx.op);
  if (!ctx.needsGrad[0])
    return;
  grads[0] = ctx.builder.create<mtl::DropoutOp>(
      d.getLoc(), d.getInput().getType(), ctx.resultGrad, d.getSeed(),
      d.getRateAttr(), d.getStreamAttr(), d.getTrainingAttr());
}

void reparameterizeGrad(mtl::autodiff::GradContext &ctx,
                        SmallVectorImpl<Value> &grads) {
  auto r = cast<mtl::ReparameterizeOp>(ctx.op);
  if (ctx.needsGrad[0])
    grads[0] = ctx.resultGrad;
  if (ctx.needsGrad[1])
    grads[1] = ctx.builder.create<mtl::ReparameterizeGradOp>(
        r.getLoc(), r.getLogvar().getType(), ctx.resultGrad, r.getLogvar(),
        r.getSeed(), r.getStreamAttr(), r.getTrainingAttr());
}

} // namespace

void mtl::autodiff::registerTrainModeGradRules(GradRuleMap &rules) {
  rules["mtl.batch_norm_train"] = batchNormTrainGrad;
  rules["mtl.dropout"] = dropoutGrad;
  rules["mtl.reparameterize"] = reparameterizeGrad;
}

void mtl::autodiff::registerTrainModeExpansions(TrainingExpansionMap &m) {
  m["mtl.batch_norm"] = expandBatchNorm;
}
