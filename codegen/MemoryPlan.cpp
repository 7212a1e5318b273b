//===- MemoryPlan.cpp - Liveness-based buffer planning of a step ----------===//
#include "codegen/MemoryPlan.h"

#include <algorithm>
#include <iterator>

namespace mtl::codegen {

namespace {
struct Block {
  int64_t offset, size;
  int lastUse;
};
} // namespace

MemoryPlan planMemory(const kg::Function &fn) {
  const int numValues = static_cast<int>(fn.values.size());
  const int end = static_cast<int>(fn.nodes.size());
  MemoryPlan plan;
  plan.offsets.assign(numValues, -1);
  std::vector<int> lastUse(numValues, -1);
  for (int i = 0; i < end; ++i)
    for (int v : fn.nodes[i].inputs)
      lastUse[v] = i;
  for (const kg::Arg &o : fn.outputs)
    lastUse[o.value] = end;

  std::vector<Block> live; // sorted by offset
  for (int i = 0; i < end; ++i) {
    int v = fn.nodes[i].result;
    // Buffers whose last reader ran before this node are free again.
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const Block &b) { return b.lastUse < i; }),
               live.end());
    int64_t size = (kg::byteSize(fn.values[v]) + 127) / 128 * 128;
    plan.naiveBytes += size;
    // First fit: the lowest gap between live blocks that holds `size`.
    int64_t offset = 0;
    auto at = live.begin();
    for (; at != live.end(); ++at) {
      if (at->offset - offset >= size)
        break;
      offset = std::max(offset, at->offset + at->size);
    }
    live.insert(at, {offset, size, std::max(lastUse[v], i)});
    plan.offsets[v] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
  }
  return plan;
}

} // namespace mtl::codegen
