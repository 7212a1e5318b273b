//===- mtl-opt.cpp - The mtl optimizer driver -----------------------------===//
//
// mlir-opt with the mtl dialect and passes: what the lit tests run.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mtl::registerMtlPasses();
  mlir::registerCSEPass();
  mlir::registerCanonicalizerPass();
  mlir::DialectRegistry registry;
  registry.insert<mtl::MtlDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mtl optimizer driver\n", registry));
}
