//===- Isa.h - The CPU instruction sets mtlc schedules for ----------------===//
//
// Register tiles are sized by the vector width (fp32 lanes) and the number
// of vector registers of the instruction set a pipeline is compiled for:
// AVX-512 has 32 registers of 16 lanes, AVX2 16 of 8, SSE4.1 16 of 4. A
// tile of 24 zmm accumulators becomes 48 spilling ymm registers on AVX2, so
// the schedules ask isa() instead of assuming AVX-512. lowerFunction sets it
// (per thread: pipelines are lowered in parallel) from the target.
//
// `mtlc build --isa=avx512,avx2,sse41` compiles every CPU pipeline once per
// listed instruction set, each with its own tiles, plus Halide's wrapper
// that picks the first the running CPU supports (a portable binary).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_ISA_H
#define MTL_CODEGEN_ISA_H

#include <Halide.h>

#include <string>
#include <vector>

namespace mtl::codegen {

struct Isa {
  const char *name; // avx512 | avx2 | sse41
  int lanes;        // fp32 lanes of a vector register
  int vregs;        // vector registers
};

/// The instruction set `t` compiles for (sse41 for anything below AVX2).
Isa isaOf(const Halide::Target &t);

/// The instruction set of the pipeline being lowered on this thread
/// (AVX-512 unless an IsaScope says otherwise).
const Isa &isa();

/// Sets isa() for the current thread while it lives.
class IsaScope {
public:
  explicit IsaScope(const Halide::Target &t);
  ~IsaScope();

private:
  Isa saved;
};

/// The x86-64 Linux target of an instruction set name (avx512 | avx2 |
/// sse41); throws LoweringError for another name.
Halide::Target isaTarget(const std::string &name);

/// "sse41,avx512" -> {"avx512", "sse41"}: the names, most capable first;
/// throws LoweringError on an unknown or repeated name, or an empty list.
std::vector<std::string> parseIsaList(const std::string &list);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_ISA_H
