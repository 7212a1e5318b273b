//===- Heap.h - Keep the step's buffers in the heap -------------*- C++ -*-===//
//
// Halide allocates each stage's buffer with malloc and frees it within the
// step. glibc serves multi-MB blocks with mmap and returns them with munmap,
// so every step paid page faults on fresh pages for every intermediate (2-3
// ms of a ~30 ms step here). Raising the mmap and trim thresholds keeps
// those blocks in the heap: after the first step, a step allocates no new
// memory from the system.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_HEAP_H
#define MTL_RUNTIME_HEAP_H

namespace mtl::rt {

/// Call once, before the first step.
void keepBuffersInHeap();

} // namespace mtl::rt

#endif // MTL_RUNTIME_HEAP_H
