//===- MtlDialect.td - The mtl dialect ---------------------*- tablegen -*-===//
#ifndef MTL_DIALECT_TD
#define MTL_DIALECT_TD

include "mlir/IR/OpBase.td"

def Mtl_Dialect : Dialect {
  let name = "mtl";
  let summary = "Multi-task learning tensor dialect";
  let description = [{
    The `mtl` dialect describes one multi-task network and its step
    functions: tensor ops over statically shaped tensors (NHWC activations,
    HWIO conv filters, [K, M] dense weights; the last dimension innermost),
    named parameters, batch inputs, one op per task loss, the explicit
    `mtl.join` where task gradients meet the shared backbone, and the
    gradient ops that reverse-mode autodiff emits.

    A model is a function `@model` with no arguments: its inputs are
    `mtl.input`, `mtl.target`, `mtl.mask` and `mtl.param` ops, its results
    are declared by `mtl.task` (and, after autodiff, `mtl.param_grad`) ops.
  }];
  let cppNamespace = "::mtl";
}

class Mtl_Op<string mnemonic, list<Trait> traits = []> :
    Op<Mtl_Dialect, mnemonic, traits>;

#endif // MTL_DIALECT_TD
