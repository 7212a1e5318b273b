//===- SequenceGrad.cpp - Gradient rules of lstm and gru ------------------===//
//
// Backward through time is one op (lstm_backward / gru_backward) that
// recomputes the forward pass and returns, per (n, t), the gradient of the
// gate pre-activations and h_{t-1}. Everything else is dense algebra on
// [N*T, .] reshapes of its slices (slice_channels):
//   dx      = dense_backward_input(dgates_input, w_input)
//   dw_in   = dense_backward_weight(x, dgates_input)
//   dw_hid  = dense_backward_weight(h_prev, dgates_hidden)
//   db      = bias_grad(dgates)
// For the lstm both gate gradients are the same slice; for the gru the
// hidden side differs in its n part (times r).
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

namespace {
RankedTensorType f32(OpBuilder &b, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, b.getF32Type());
}

struct SeqGrad {
  OpBuilder &b;
  Location loc;
  int64_t N, T, F, H;

  /// channels [offset, offset + width) of the packed [N, T, W] result.
  Value slice(Value packed, int64_t offset, int64_t width) {
    return b.create<mtl::SliceChannelsOp>(loc, f32(b, {N, T, width}), packed,
                                          b.getI64IntegerAttr(offset));
  }
  Value flat(Value v, int64_t width) {
    return b.create<mtl::ReshapeOp>(loc, f32(b, {N * T, width}), v);
  }

  /// Fills the gradients of x, w_input, w_hidden from the gate gradients.
  void dense(mtl::autodiff::GradContext &ctx, SmallVectorImpl<Value> &grads,
             Value x, Value wi, Value gi, Value gh, Value hprev,
             int64_t gates) {
    int64_t G = gates * H;
    if (ctx.needsGrad[0]) {
      Value dx = b.create<mtl::DenseBackwardInputOp>(loc, f32(b, {N * T, F}),
                                                     flat(gi, G), wi);
      grads[0] = b.create<mtl::ReshapeOp>(loc, x.getType(), dx);
    }
    if (ctx.needsGrad[1])
      grads[1] = b.create<mtl::DenseBackwardWeightOp>(loc, wi.getType(),
                                                      flat(x, F), flat(gi, G));
    if (ctx.needsGrad[2])
      grads[2] = b.create<mtl::DenseBackwardWeightOp>(
          loc, f32(b, {H, G}), flat(hprev, H), flat(gh, G));
  }
};

SeqGrad setup(OpBuilder &b, Operation *op, Value x, Value wh) {
  auto xs = cast<RankedTensorType>(x.getType()).getShape();
  auto whs = cast<RankedTensorType>(wh.getType()).getShape();
  return SeqGrad{b, op->getLoc(), xs[0], xs[1], xs[2], whs[0]};
}
} // namespace

static void lstmGrad(mtl::autodiff::GradContext &ctx,
                     SmallVectorImpl<Value> &grads) {
  auto lstm = cast<mtl::LstmOp>(ctx.op);
  SeqGrad s = setup(ctx.builder, lstm, lstm.getInput(), lstm.getWHidden());
  OpBuilder &b = ctx.builder;
  Value packed = b.create<mtl::LstmBackwardOp>(
      s.loc, f32(b, {s.N, s.T, 5 * s.H}), lstm.getInput(), lstm.getWInput(),
      lstm.getWHidden(), lstm.getBias(), ctx.resultGrad,
      /*state=*/Value(), lstm.getReturnSequencesAttr());
  Value gates = s.slice(packed, 0, 4 * s.H);
  Value hprev = s.slice(packed, 4 * s.H, s.H);
  s.dense(ctx, grads, lstm.getInput(), lstm.getWInput(), gates, gates, hprev,
          4);
  if (ctx.needsGrad[3])
    grads[3] =
        b.create<mtl::BiasGradOp>(s.loc, lstm.getBias().getType(), gates);
}

static void gruGrad(mtl::autodiff::GradContext &ctx,
                    SmallVectorImpl<Value> &grads) {
  auto gru = cast<mtl::GruOp>(ctx.op);
  SeqGrad s = setup(ctx.builder, gru, gru.getInput(), gru.getWHidden());
  OpBuilder &b = ctx.builder;
  Value packed = b.create<mtl::GruBackwardOp>(
      s.loc, f32(b, {s.N, s.T, 7 * s.H}), gru.getInput(), gru.getWInput(),
      gru.getWHidden(), gru.getBiasInput(), gru.getBiasHidden(), ctx.resultGrad,
      /*state=*/Value(), gru.getReturnSequencesAttr());
  Value gi = s.slice(packed, 0, 3 * s.H);
  Value gh = s.slice(packed, 3 * s.H, 3 * s.H);
  Value hprev = s.slice(packed, 6 * s.H, s.H);
  s.dense(ctx, grads, gru.getInput(), gru.getWInput(), gi, gh, hprev, 3);
  if (ctx.needsGrad[3])
    grads[3] =
        b.create<mtl::BiasGradOp>(s.loc, gru.getBiasInput().getType(), gi);
  if (ctx.needsGrad[4])
    grads[4] =
        b.create<mtl::BiasGradOp>(s.loc, gru.getBiasHidden().getType(), gh);
}

void mtl::autodiff::registerSequenceGradRules(GradRuleMap &rules) {
  rules["mtl.lstm"] = lstmGrad;
  rules["mtl.gru"] = gruGrad;
}
