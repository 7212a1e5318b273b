//===- Passes.td - mtl passes -------------------------------*- tablegen -*-===//
#ifndef MTL_PASSES_TD
#define MTL_PASSES_TD

include "mlir/Pass/PassBase.td"

def MtlShapeInference : Pass<"mtl-shape-inference", "mlir::func::FuncOp"> {
  let summary = "Infer the static shape of every unranked mtl result";
  let description = [{
    Walks each function in order and gives every `ShapeInference` op whose
    result is `tensor<*xf32>` the type its shape rule computes. Impossible
    shapes are reported at the op (for a spec, its TOML layer).
  }];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlAutodiff : Pass<"mtl-autodiff", "mlir::ModuleOp"> {
  let summary = "Reverse-mode autodiff: build the train step";
  let description = [{
    Clones the forward function (`@model`) into `@train_step` and appends the
    reverse sweep: the objective is `sum_t weight_t * loss_t` over the
    `mtl.task` ops; each op's gradient comes from its rule in
    `passes/autodiff/`; gradients that meet at a value with several users are
    summed by an explicit `mtl.join`; only values that depend on a parameter
    are differentiated. Each parameter's gradient is returned through
    `mtl.param_grad`. For multi-task strategies (docs/strategies.md) the
    weights can be a run-time argument (`mtl.loss_weights`), joins where
    distinct tasks' gradients meet can be marked `mtl.task_join` (and each
    reported as a remark saying why it stays unfused), and the shared
    parameters can get one gradient per task.
  }];
  let options = [
    Option<"forwardName", "forward", "std::string", "\"model\"",
           "name of the forward function">,
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "name of the generated train step">,
    Option<"runtimeWeights", "runtime-weights", "bool", "false",
           "seed each task with its run-time weight (mtl.loss_weights) "
           "instead of the constant task weight">,
    Option<"taskJoins", "task-joins", "std::string", "\"\"",
           "when set (to the reason, e.g. the strategy), a join whose "
           "inputs each come from one distinct task is marked "
           "mtl.task_join (it calls the runtime's strategy back)">,
    Option<"perTaskParamGrads", "per-task-param-grads", "bool", "false",
           "differentiate each task separately and return per-task "
           "gradients (mtl.task on mtl.param_grad) of the parameters "
           "several tasks share">,
  ];
  let dependentDialects = ["::mtl::MtlDialect", "::mlir::func::FuncDialect"];
}

def MtlFuseHeads : Pass<"mtl-fuse-heads", "mlir::func::FuncOp"> {
  let summary = "Horizontal head fusion: one wide product per shared tensor";
  let description = [{
    The first products of the task heads that read the same tensor with the
    same geometry (`mtl.dense`, `mtl.conv2d`, and in the train step their
    weight gradients `mtl.dense_backward_weight`,
    `mtl.conv2d_backward_filter`) become one product over operands
    concatenated along their last axis (`mtl.concat`), sliced back per task
    (`mtl.slice_channels`). Parameters stay separate. Each group formed, and
    each one that could not be, is reported as a remark.

    Cost model (on by default): parameters are stored separately, so a fused
    product concatenates its per-task operands and slices its result on
    every call. A group is fused only when that copying moves fewer bytes
    than reading the shared tensor once instead of T times saves:
    (T-1) |X| > 2 sum_t (|operands_t| + |result_t|).
  }];
  let options = [
    Option<"costModel", "cost-model", "bool", "true",
           "fuse a group only where the cost model predicts a gain">,
  ];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlFuseJoin : Pass<"mtl-fuse-join", "mlir::func::FuncOp"> {
  let summary = "Join fusion: the sum of the task gradients in one product";
  let description = [{
    Rewrites `mtl.join` of T input-gradient products of the same kind
    (`mtl.dense_backward_input`, `mtl.conv2d_backward_input`) that are used
    only by the join into one product over the concatenated gradients and
    weights: `sum_t dy_t W_t^T = [dy_1 .. dy_T] [W_1 .. W_T]^T`. Leave it out
    when a gradient strategy needs the per-task gradients at the join.

    Cost model (on by default): the T products write T gradients that the
    join reads back; the fused product instead copies every dy_t and W_t
    into the concatenations. Fused only where T |dX| > sum_t (|dy_t| + |W_t|).
  }];
  let options = [
    Option<"costModel", "cost-model", "bool", "true",
           "fuse a join only where the cost model predicts a gain">,
  ];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlFuseEpilogue : Pass<"mtl-fuse-epilogue", "mlir::func::FuncOp"> {
  let summary = "Epilogue fusion: activations computed inside their producer";
  let description = [{
    Marks an elementwise consumer (`mtl.relu`, `mtl.leaky_relu`,
    `mtl.sigmoid`, `mtl.tanh`, `mtl.gelu`) of a product (`mtl.conv2d`,
    `mtl.dense`, `mtl.conv_transpose2d`; or a memory-bound map: a batch-norm
    apply, `mtl.max_pool`, `mtl.max_pool_grad`) that is the product's only user with
    the unit attribute `mtl.fused_epilogue`: codegen then applies it to the
    product's register tile before the store, so the pre-activation tensor is
    never written and the separate pass over memory disappears. The
    activation's result stays materialized (the backward ops read it). Chains
    (`dense -> tanh -> ...`) fuse while each link has one user. Where the
    heads of a fused product (`mtl-fuse-heads`) each apply the same
    activation to their slice, the activation is first hoisted above the
    slices so it can fuse. An inference `mtl.batch_norm` after a product is
    an epilogue too (a per-channel affine map; its parameters and running
    statistics are step arguments). Each fusion, and each candidate that
    cannot fuse, is reported as a remark.
  }];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlFuseLosses : Pass<"mtl-fuse-losses", "mlir::func::FuncOp"> {
  let summary = "Loss fusion: each task's loss and its gradient computed together";
  let description = [{
    Gives a task loss op and the gradient op(s) of the same loss over the same
    operands one `mtl.loss_group` id (i64), numbered in program order. Codegen
    computes the shared per-sample terms (the row log-sum-exp of a softmax
    cross-entropy, the mask denominator) once for the group, and the
    per-sample loss stages of all groups of a step with the same batch size
    in one loop over the batch. Each group formed is reported as a remark.
  }];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlSaveRecurrentState
    : Pass<"mtl-save-recurrent-state", "mlir::func::FuncOp"> {
  let summary = "Keep each lstm's and gru's per-step state for its backward";
  let description = [{
    `lstm_backward` and `gru_backward` recompute the forward recurrence
    unless handed the forward's state. For each lstm (gru) whose backward
    is in the same function (the train step), this pass replaces it by
    `lstm_output(lstm_state(...))` (`gru_output(gru_state(...))`) and
    passes the state to the backward: the recurrence runs once per step
    instead of twice, for a `[T + 1, 6 (5), H, N]` buffer kept from the
    forward to the backward (11 MB
    for examples/sequential_lstm.toml, whose recurrence kernels take 41-48
    -> 31-38 ms per train step on two threads; docs/performance.md).
  }];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlSavePoolArgmax : Pass<"mtl-save-pool-argmax", "mlir::func::FuncOp"> {
  let summary = "Keep a recomputed max pool's argmax for its gradient";
  let description = [{
    `max_pool_grad(dy, x)` finds each window's maximum again in `x`. Where
    codegen does not store `x` but recomputes it -- a first layer: a
    `conv2d` of at most 9 taps per output (3 x 3 over one channel), its
    training batch norm and relu, codegen/Segments.cpp -- that means the
    conv at every pixel of the window once more. For each such `max_pool`
    whose gradient is in the same function (the train step), this pass adds
    `max_pool_argmax(x)` beside it (codegen computes both in one pass over
    the windows) and hands it to the `max_pool_grad`, whose readers then
    touch one pixel per window (ops/FirstLayerPoolGrad.cpp). Likewise where
    only max pools and their gradients read `x`: the gradient then reads
    one byte per window instead of `x` (multi_fashion's conv -> max_pool ->
    relu). Where the backward reads `x` anyway (a relu's or batch norm's
    gradient) nothing is kept. With `all`, every max pool's argmax is kept.
  }];
  let options = [Option<"all", "all", "bool", "false",
                        "keep the argmax of every max pool with a gradient">];
  let dependentDialects = ["::mtl::MtlDialect"];
}

def MtlDeadHeadElimination
    : Pass<"mtl-dead-head-elimination", "mlir::func::FuncOp"> {
  let summary = "Keep only the named tasks and what their heads need";
  let description = [{
    For inference builds of a subset of the tasks (`mtlc build --emit=lib
    --tasks=label,box`): removes the other tasks' `mtl.task` declarations
    and every op, parameter and input only they used. Reports what it
    removed as a remark; an unknown task name is an error.
  }];
  let options = [
    ListOption<"tasks", "tasks", "std::string", "the tasks to keep">,
  ];
  let dependentDialects = ["::mtl::MtlDialect"];
}

#endif // MTL_PASSES_TD
