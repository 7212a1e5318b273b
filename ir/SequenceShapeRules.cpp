//===- SequenceShapeRules.cpp - Shape rules of ir/SequenceOps.td ----------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

namespace {

/// The shared rule of lstm (G = 4) and gru (G = 3): returns [N, T, H] or
/// [N, H]; `biases` are [G H] each.
FailureOr<Type> recurrent(Operation *op, StringRef name, int64_t gates, Value x,
                          Value wi, Value wh, ValueRange biases,
                          bool sequences) {
  auto xs = shapeOf(x), wis = shapeOf(wi), whs = shapeOf(wh);
  if (!xs || !wis || !whs ||
      llvm::any_of(biases, [](Value b) { return !shapeOf(b); }))
    return Type();
  if (xs->size() != 3)
    return op->emitError() << name
                           << " expects a sequence [batch, time, features] of "
                              "rank 3, got "
                           << str(*xs);
  if (whs->size() != 2 || (*whs)[1] != gates * (*whs)[0])
    return op->emitError() << name << " hidden weight must be [H, " << gates
                           << "H], got " << str(*whs);
  int64_t H = (*whs)[0];
  if (wis->size() != 2 || (*wis)[0] != (*xs)[2] || (*wis)[1] != gates * H)
    return op->emitError() << name << " input weight must be [" << (*xs)[2]
                           << ", " << gates * H << "], got " << str(*wis);
  for (Value b : biases) {
    auto bs = *shapeOf(b);
    if (bs.size() != 1 || bs[0] != gates * H)
      return op->emitError()
             << name << " bias must be [" << gates * H << "], got " << str(bs);
  }
  SmallVector<int64_t> out{(*xs)[0]};
  if (sequences)
    out.push_back((*xs)[1]);
  out.push_back(H);
  return Type(RankedTensorType::get(out, Float32Type::get(op->getContext())));
}

/// Backward ops: operands like the forward op's plus dy; the result is
/// [N, T, width * H].
LogicalResult verifyBackward(Operation *op, StringRef name, int64_t gates,
                             int64_t width, Value x, Value wi, Value wh,
                             ValueRange biases, Value dy, bool sequences) {
  FailureOr<Type> fwd =
      recurrent(op, name, gates, x, wi, wh, biases, sequences);
  if (failed(fwd))
    return failure();
  if (!*fwd)
    return op->emitOpError() << "operands must be ranked";
  if (dy.getType() != *fwd)
    return op->emitOpError()
           << "grad_output must be " << *fwd << ", got " << dy.getType();
  auto xs = *shapeOf(x);
  int64_t H = (*shapeOf(wh))[0];
  auto res = shapeOf(op->getResult(0));
  SmallVector<int64_t> want{xs[0], xs[1], width * H};
  if (!res || *res != ArrayRef<int64_t>(want))
    return op->emitOpError() << "result must be " << str(want);
  return success();
}
} // namespace

FailureOr<Type> LstmOp::inferResultType() {
  return recurrent(*this, "lstm", 4, getInput(), getWInput(), getWHidden(),
                   getBias(), getReturnSequences());
}

FailureOr<Type> GruOp::inferResultType() {
  return recurrent(*this, "gru", 3, getInput(), getWInput(), getWHidden(),
                   {getBiasInput(), getBiasHidden()}, getReturnSequences());
}

LogicalResult LstmOp::verify() { return verifyInferred(*this); }
LogicalResult GruOp::verify() { return verifyInferred(*this); }

namespace {

/// The saved state of a recurrence over x [N, T, F] with H units and
/// `comps` components per unit (lstm 6, gru 5): [T + 1, comps, H, N].
SmallVector<int64_t> stateShape(Value x, Value wh, int64_t comps) {
  auto xs = *shapeOf(x);
  return {xs[1] + 1, comps, (*shapeOf(wh))[0], xs[0]};
}

/// A backward's optional state operand: the forward's saved state.
LogicalResult verifyState(Operation *op, Value state, Value x, Value wh,
                          int64_t comps) {
  if (!state)
    return success();
  auto want = stateShape(x, wh, comps);
  auto got = shapeOf(state);
  if (!got || *got != ArrayRef<int64_t>(want))
    return op->emitOpError() << "state must be " << str(want);
  return success();
}

/// lstm_state / gru_state: the forward's operands checked as the cell's.
FailureOr<Type> stateType(Operation *op, StringRef name, int64_t gates,
                          int64_t comps, Value x, Value wi, Value wh,
                          ValueRange biases) {
  FailureOr<Type> y = recurrent(op, name, gates, x, wi, wh, biases, false);
  if (failed(y) || !*y)
    return y;
  return Type(RankedTensorType::get(stateShape(x, wh, comps),
                                    Float32Type::get(op->getContext())));
}

/// lstm_output / gru_output: h of every step or of the last.
FailureOr<Type> outputType(Operation *op, StringRef name, StringRef of,
                           int64_t comps, Value state, bool sequences) {
  auto s = shapeOf(state);
  if (!s)
    return Type();
  if (s->size() != 4 || (*s)[0] < 2 || (*s)[1] != comps)
    return op->emitError() << name << " expects " << of << " [T + 1, " << comps
                           << ", H, N], got " << str(*s);
  SmallVector<int64_t> out{(*s)[3]};
  if (sequences)
    out.push_back((*s)[0] - 1);
  out.push_back((*s)[2]);
  return Type(RankedTensorType::get(out, Float32Type::get(op->getContext())));
}

} // namespace

LogicalResult LstmBackwardOp::verify() {
  if (failed(verifyBackward(*this, "lstm_backward", 4, 5, getInput(),
                            getWInput(), getWHidden(), getBias(),
                            getGradOutput(), getReturnSequences())))
    return failure();
  return verifyState(*this, getState(), getInput(), getWHidden(), 6);
}

FailureOr<Type> LstmStateOp::inferResultType() {
  return stateType(*this, "lstm_state", 4, 6, getInput(), getWInput(),
                   getWHidden(), getBias());
}

FailureOr<Type> LstmOutputOp::inferResultType() {
  return outputType(*this, "lstm_output", "an lstm_state", 6, getState(),
                    getReturnSequences());
}

FailureOr<Type> GruStateOp::inferResultType() {
  return stateType(*this, "gru_state", 3, 5, getInput(), getWInput(),
                   getWHidden(), {getBiasInput(), getBiasHidden()});
}

FailureOr<Type> GruOutputOp::inferResultType() {
  return outputType(*this, "gru_output", "a gru_state", 5, getState(),
                    getReturnSequences());
}

LogicalResult LstmStateOp::verify() { return verifyInferred(*this); }
LogicalResult LstmOutputOp::verify() { return verifyInferred(*this); }
LogicalResult GruStateOp::verify() { return verifyInferred(*this); }
LogicalResult GruOutputOp::verify() { return verifyInferred(*this); }

LogicalResult GruBackwardOp::verify() {
  if (failed(verifyBackward(*this, "gru_backward", 3, 7, getInput(),
                            getWInput(), getWHidden(),
                            {getBiasInput(), getBiasHidden()}, getGradOutput(),
                            getReturnSequences())))
    return failure();
  return verifyState(*this, getState(), getInput(), getWHidden(), 5);
}
