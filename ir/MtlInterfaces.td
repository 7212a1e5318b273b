//===- MtlInterfaces.td - Op interfaces of the mtl dialect -*- tablegen -*-===//
#ifndef MTL_INTERFACES_TD
#define MTL_INTERFACES_TD

include "mlir/IR/OpBase.td"

def ShapeInferenceOpInterface : OpInterface<"ShapeInference"> {
  let description = [{
    An op whose result type follows from its operand types and attributes.
    `inferResultType` returns the result type, a null type when an operand is
    still unranked, or failure (with an error emitted at the op) when the
    operands are impossible. The shape inference pass and the verifiers both
    use it, so the rule is written once per op.
  }];
  let cppNamespace = "::mtl";
  let methods = [
    InterfaceMethod<"Infer the result type from the operands.",
      "::mlir::FailureOr<::mlir::Type>", "inferResultType">,
  ];
}

#endif // MTL_INTERFACES_TD
