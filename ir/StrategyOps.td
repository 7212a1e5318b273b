//===- StrategyOps.td - Multi-task strategy ops ------------*- tablegen -*-===//
//
// Emitted by mtl-autodiff when the spec has a [strategy] (docs/strategies.md):
// the run-time loss weights and their application to each task's loss
// gradient. Included from MtlOps.td; lowering: codegen/ops/Strategy.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_STRATEGY_OPS_TD
#define MTL_STRATEGY_OPS_TD

def Mtl_LossWeightsOp : Mtl_Op<"loss_weights", [Pure]> {
  let summary = "the per-task loss weights of this train step";
  let description = [{
    `%w = mtl.loss_weights : tensor<2xf32>`: one weight per `mtl.task`, in
    program order, set by the runtime's weighting strategy before every
    step (the spec's static weights by default).
  }];
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

def Mtl_ScaleTaskOp : Mtl_Op<"scale_task", [Pure]> {
  let summary = "a loss gradient times its task's run-time weight";
  let description = [{
    `mtl.scale_task %g, %w {task = 1}`: `g * w[task]`, the seed of task
    `task`'s backward pass when its weight is a run-time value.
  }];
  let arguments = (ins Mtl_F32Tensor:$grad, Mtl_F32Tensor:$weights,
                       I64Attr:$task);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$grad `,` $weights attr-dict `:` functional-type(operands, results)";
}

#endif // MTL_STRATEGY_OPS_TD
