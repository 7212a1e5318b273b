//===- MtlDialect.cpp - The mtl dialect -----------------------------------===//
#include "ir/MtlDialect.h"
#include "ir/MtlOps.h"

using namespace mlir;
using namespace mtl;

#include "ir/MtlDialect.cpp.inc"

void MtlDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/MtlOps.cpp.inc"
      >();
}
