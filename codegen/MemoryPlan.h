//===- MemoryPlan.h - Liveness-based buffer planning of a step --*- C++ -*-===//
//
// Each intermediate tensor of a step function lives from the node that
// produces it to the last node that reads it (outputs to the end). Buffers
// whose lifetimes do not overlap can share memory: the planner gives every
// tensor an offset in one arena (first fit, 128-byte aligned) and reports
// the arena's size next to the naive sum of all intermediates.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_MEMORYPLAN_H
#define MTL_CODEGEN_MEMORYPLAN_H

#include "codegen/KernelGraph.h"

#include <cstdint>
#include <vector>

namespace mtl::codegen {

struct MemoryPlan {
  std::vector<int64_t> offsets; // per value id; -1 for pipeline arguments
  int64_t arenaBytes = 0;       // the planned peak
  int64_t naiveBytes = 0;       // every intermediate in its own buffer
};

MemoryPlan planMemory(const kg::Function &fn);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_MEMORYPLAN_H
