//===- MtlDialect.h - The mtl dialect ---------------------------*- C++ -*-===//
#ifndef MTL_IR_MTLDIALECT_H
#define MTL_IR_MTLDIALECT_H

#include "mlir/IR/Dialect.h"

#include "ir/MtlDialect.h.inc"

#endif // MTL_IR_MTLDIALECT_H
