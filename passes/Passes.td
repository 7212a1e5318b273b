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
    `mtl.param_grad`.
  }];
  let options = [
    Option<"forwardName", "forward", "std::string", "\"model\"",
           "name of the forward function">,
    Option<"stepName", "step", "std::string", "\"train_step\"",
           "name of the generated train step">,
  ];
  let dependentDialects = ["::mtl::MtlDialect", "::mlir::func::FuncDialect"];
}

#endif // MTL_PASSES_TD
