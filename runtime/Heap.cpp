//===- Heap.cpp - Keep the step's buffers in the heap ---------------------===//
#include "runtime/Heap.h"

#include <malloc.h>

namespace mtl::rt {

void keepBuffersInHeap() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30); // no mmap below 1 GiB
  mallopt(M_TRIM_THRESHOLD, 1 << 30); // keep freed memory for the next step
  mallopt(M_TOP_PAD, 64 << 20);       // grow the heap in 64 MiB steps
}

} // namespace mtl::rt
