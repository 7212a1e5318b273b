//===- IsaCap.h - Cap the instruction set a portable binary runs ----------===//
//
// A binary built with `mtlc build --isa=avx512,avx2,sse41` runs, in every
// kernel, the first variant the CPU supports (Halide's wrapper asks
// halide_can_use_target_features once per kernel). MTL_ISA=avx2 (or sse41)
// makes the more capable variants look unsupported, to compare them on one
// machine or to work around a CPU that misreports its features.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_ISACAP_H
#define MTL_RUNTIME_ISACAP_H

namespace mtl::rt {

/// Applies MTL_ISA (avx512 | avx2 | sse41) if set; throws Error naming the
/// variable for another value. Call before the first kernel runs.
void capIsaFromEnvironment();

} // namespace mtl::rt

#endif // MTL_RUNTIME_ISACAP_H
