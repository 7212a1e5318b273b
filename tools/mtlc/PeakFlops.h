//===- PeakFlops.h - The machine's measured fp32 FMA peak -------*- C++ -*-===//
#ifndef MTL_TOOLS_MTLC_PEAKFLOPS_H
#define MTL_TOOLS_MTLC_PEAKFLOPS_H

namespace mtl {

/// fp32 GFLOP/s of independent FMA chains in registers on `threads` threads
/// (AVX-512 where the CPU has it, else AVX2+FMA), measured for ~`seconds`.
double measurePeakGflops(int threads, double seconds = 0.3);

} // namespace mtl

#endif // MTL_TOOLS_MTLC_PEAKFLOPS_H
