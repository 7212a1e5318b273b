//===- SaveRecurrentState.cpp - mtl-save-recurrent-state ------------------===//
//
// Rematerialization or storage of an lstm's per-step state: lstm_backward
// without a state operand recomputes the forward recurrence (as much work
// as the forward itself). Where the forward lstm is in the same function
// as its backward (same operands), the lstm becomes lstm_output(lstm_state)
// and the backward reads that state.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace mtl {
#define GEN_PASS_DEF_MTLSAVERECURRENTSTATE
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {
struct SaveRecurrentStatePass
    : mtl::impl::MtlSaveRecurrentStateBase<SaveRecurrentStatePass> {
  void runOnOperation() override {
    SmallVector<LstmBackwardOp> backwards;
    getOperation().walk([&](LstmBackwardOp bw) {
      if (!bw.getState())
        backwards.push_back(bw);
    });
    DenseMap<Operation *, Value> states; // lstm -> its lstm_state
    for (LstmBackwardOp bw : backwards) {
      LstmOp fw = forwardOf(bw);
      if (!fw)
        continue;
      Value &state = states[fw];
      if (!state) {
        OpBuilder b(fw);
        auto op = b.create<LstmStateOp>(
            fw.getLoc(), UnrankedTensorType::get(b.getF32Type()), fw.getInput(),
            fw.getWInput(), fw.getWHidden(), fw.getBias());
        if (failed(inferResultTypeInPlace(op)))
          return signalPassFailure();
        state = op.getResult();
      }
      bw.getStateMutable().assign(state);
    }
    for (auto &[op, state] : states) {
      auto fw = cast<LstmOp>(op);
      OpBuilder b(fw);
      Value y = b.create<LstmOutputOp>(fw.getLoc(), fw.getType(), state,
                                       fw.getReturnSequencesAttr());
      fw.getResult().replaceAllUsesWith(y);
      fw.erase();
    }
  }

  /// The lstm of `bw`'s operands before it in its block, if any.
  static LstmOp forwardOf(LstmBackwardOp bw) {
    for (Operation *user : bw.getInput().getUsers()) {
      auto fw = dyn_cast<LstmOp>(user);
      if (fw && fw->getBlock() == bw->getBlock() && fw->isBeforeInBlock(bw) &&
          fw.getWInput() == bw.getWInput() &&
          fw.getWHidden() == bw.getWHidden() && fw.getBias() == bw.getBias() &&
          fw.getReturnSequences() == bw.getReturnSequences())
        return fw;
    }
    return nullptr;
  }
};
} // namespace
