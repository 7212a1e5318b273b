//===- PeakFlops.h - The machine's measured fp32 FMA peak -------*- C++ -*-===//
#ifndef MTL_TOOLS_MTLC_PEAKFLOPS_H
#define MTL_TOOLS_MTLC_PEAKFLOPS_H

#include <string>

namespace mtl {

/// fp32 GFLOP/s of independent FMA chains in registers on `threads` threads
/// (AVX-512 where the CPU has it, else AVX2+FMA), measured for ~`seconds`.
/// `isa` (avx512 | avx2 | sse41) measures that instruction set's peak
/// instead (SSE4.1 has no FMA: a multiply and an add per lane), for kernels
/// compiled for it (`mtlc build --isa`).
double measurePeakGflops(int threads, double seconds = 0.3,
                         const std::string &isa = "");

} // namespace mtl

#endif // MTL_TOOLS_MTLC_PEAKFLOPS_H
