//===- SaveRecurrentState.cpp - mtl-save-recurrent-state ------------------===//
//
// Rematerialization or storage of a recurrence's per-step state:
// lstm_backward / gru_backward without a state operand recompute the
// forward recurrence (as much work as the forward itself). Where the
// forward op is in the same function as its backward (same operands), it
// becomes <cell>_output(<cell>_state) and the backward reads that state.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

namespace mtl {
#define GEN_PASS_DEF_MTLSAVERECURRENTSTATE
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

/// The forward op `Fwd` of backward `bw` (the same operands, before it in
/// its block), if any.
template <class Fwd, class Bwd> Fwd forwardOf(Bwd bw) {
  for (Operation *user : bw.getInput().getUsers()) {
    auto fw = dyn_cast<Fwd>(user);
    if (!fw || fw->getBlock() != bw->getBlock() || !fw->isBeforeInBlock(bw) ||
        fw.getReturnSequences() != bw.getReturnSequences())
      continue;
    // The forward's operands are the backward's leading ones.
    if (llvm::equal(fw->getOperands(),
                    bw->getOperands().take_front(fw->getNumOperands())))
      return fw;
  }
  return nullptr;
}

/// Rewrites each Fwd whose backward (Bwd, no state yet) is in `fn`.
template <class Fwd, class Bwd, class State, class Output>
LogicalResult saveStates(func::FuncOp fn) {
  SmallVector<Bwd> backwards;
  fn.walk([&](Bwd bw) {
    if (!bw.getState())
      backwards.push_back(bw);
  });
  llvm::MapVector<Operation *, Value> states; // forward -> its state
  for (Bwd bw : backwards) {
    Fwd fw = forwardOf<Fwd>(bw);
    if (!fw)
      continue;
    Value &state = states[fw];
    if (!state) {
      OpBuilder b(fw);
      auto op =
          b.create<State>(fw.getLoc(), UnrankedTensorType::get(b.getF32Type()),
                          fw->getOperands());
      if (failed(inferResultTypeInPlace(op)))
        return failure();
      state = op.getResult();
    }
    bw.getStateMutable().assign(state);
  }
  for (auto &[op, state] : states) {
    auto fw = cast<Fwd>(op);
    OpBuilder b(fw);
    Value y = b.create<Output>(fw.getLoc(), fw.getType(), state,
                               fw.getReturnSequencesAttr());
    fw.getResult().replaceAllUsesWith(y);
    fw.erase();
  }
  return success();
}

struct SaveRecurrentStatePass
    : mtl::impl::MtlSaveRecurrentStateBase<SaveRecurrentStatePass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (failed(saveStates<LstmOp, LstmBackwardOp, LstmStateOp, LstmOutputOp>(
            fn)) ||
        failed(saveStates<GruOp, GruBackwardOp, GruStateOp, GruOutputOp>(fn)))
      signalPassFailure();
  }
};
} // namespace
