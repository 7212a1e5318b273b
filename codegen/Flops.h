//===- Flops.h - Floating-point work of a step function ---------*- C++ -*-===//
//
// Counts the multiply-adds of the heavy kernels (2 FLOPs each) and one FLOP
// per output element of everything else, the convention of FLOP counts in
// the literature; `mtlc explore` and benchmarks divide it by time.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_FLOPS_H
#define MTL_CODEGEN_FLOPS_H

#include "codegen/KernelGraph.h"

namespace mtl::codegen {

/// FLOPs of one node of `fn`.
double nodeFlops(const kg::Function &fn, const kg::Node &node);

/// FLOPs of one call of `fn`.
double functionFlops(const kg::Function &fn);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_FLOPS_H
