//===- ShapeInference.cpp - mtl-shape-inference ---------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

namespace mtl {
#define GEN_PASS_DEF_MTLSHAPEINFERENCE
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;

namespace {
struct ShapeInferencePass
    : mtl::impl::MtlShapeInferenceBase<ShapeInferencePass> {
  void runOnOperation() override {
    // Blocks are in def-before-use order, so one forward walk sees every
    // operand's type before its users.
    WalkResult result = getOperation().walk([](mtl::ShapeInference op) {
      if (isa<RankedTensorType>(op->getResult(0).getType()))
        return WalkResult::advance();
      return failed(mtl::inferResultTypeInPlace(op)) ? WalkResult::interrupt()
                                                     : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
