//===- DeadHeadElimination.cpp - mtl-dead-head-elimination ----------------===//
//
// An inference build of a subset of the tasks keeps only what their heads
// need: the other tasks' declarations go, and with them every op, parameter
// and input that only they used (heads, losses, targets, masks; backbone
// layers that only a dropped head read).
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/StringSet.h"

namespace mtl {
#define GEN_PASS_DEF_MTLDEADHEADELIMINATION
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {
struct DeadHeadEliminationPass
    : mtl::impl::MtlDeadHeadEliminationBase<DeadHeadEliminationPass> {
  using MtlDeadHeadEliminationBase::MtlDeadHeadEliminationBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (tasks.empty())
      return;
    llvm::StringSet<> keep;
    for (const std::string &t : tasks)
      keep.insert(t);
    llvm::StringSet<> present;
    std::string names;
    for (TaskOp task : fn.getOps<TaskOp>()) {
      present.insert(task.getName());
      names += (names.empty() ? "" : ", ") + task.getName().str();
    }
    for (const std::string &t : tasks)
      if (!present.contains(t)) {
        fn.emitError() << "--tasks names unknown task '" << t
                       << "' (the spec's tasks: " << names << ")";
        return signalPassFailure();
      }

    unsigned dropped = 0;
    for (TaskOp task : llvm::make_early_inc_range(fn.getOps<TaskOp>()))
      if (!keep.contains(task.getName())) {
        task.erase();
        ++dropped;
      }
    // Sweep backwards: an op is dead once its last user is gone.
    unsigned ops = 0, params = 0;
    SmallVector<Operation *> all;
    for (Operation &op : fn.front().without_terminator())
      all.push_back(&op);
    for (Operation *op : llvm::reverse(all))
      if (op->use_empty() && isMemoryEffectFree(op)) {
        params += isa<ParamOp>(op);
        ++ops;
        op->erase();
      }
    fn.emitRemark() << "dead-head elimination kept " << tasks.size() << " of "
                    << present.size() << " tasks, removed " << dropped
                    << " tasks, " << ops << " ops (" << params
                    << " parameters)";
  }
};
} // namespace
