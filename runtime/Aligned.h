//===- Aligned.h - Storage for the buffers handed to Halide -----*- C++ -*-===//
//
// Halide's generated code may use aligned vector loads on the buffers it is
// given (outputs that later stages read, in particular), so every buffer the
// runtime hands to a pipeline starts on a 128-byte boundary, as
// Halide::Runtime::Buffer's own allocations do.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_ALIGNED_H
#define MTL_RUNTIME_ALIGNED_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include <sys/mman.h>

namespace mtl::rt {

constexpr size_t kBufferAlignment = 128;

/// Buffers of 2 MB and more (parameters, their gradients, large inputs)
/// start on a 2 MB boundary and are advised as transparent huge pages
/// (where the kernel allows it: THP "madvise" or "always"). The reference
/// model's recon_fc weight (20 MB) spans 5000 4 KB pages, more than the
/// second-level TLB holds, and its GEMMs walk it by rows: its forward in
/// the step 13.6-13.9 -> 10.4-12.5 ms on one thread (three interleaved
/// pairs). The generated arena does the same (codegen/Segments.cpp).
constexpr size_t kHugePage = size_t(2) << 20;

/// `bytes` of storage aligned to kBufferAlignment (kHugePage for large
/// buffers, advised as huge pages); release with freeBuffer.
inline void *allocateBuffer(size_t bytes) {
  const size_t align = bytes < kHugePage ? kBufferAlignment : kHugePage;
  const size_t rounded = (bytes + align - 1) / align * align;
  void *p = std::aligned_alloc(align, rounded ? rounded : align);
  if (!p)
    throw std::bad_alloc();
  if (align == kHugePage)
    madvise(p, rounded, MADV_HUGEPAGE); // advice only: failure is harmless
  return p;
}

inline void freeBuffer(void *p) { std::free(p); }

template <class T> struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U> AlignedAllocator(const AlignedAllocator<U> &) {}
  T *allocate(size_t n) {
    return static_cast<T *>(allocateBuffer(n * sizeof(T)));
  }
  void deallocate(T *p, size_t) { freeBuffer(p); }
  template <class U> bool operator==(const AlignedAllocator<U> &) const {
    return true;
  }
  template <class U> bool operator!=(const AlignedAllocator<U> &) const {
    return false;
  }
};

template <class T> using AlignedVector = std::vector<T, AlignedAllocator<T>>;

/// `n` elements of T rounded up so that the next one starts aligned.
template <class T> int64_t alignedCount(int64_t n) {
  const int64_t per = kBufferAlignment / sizeof(T);
  return (n + per - 1) / per * per;
}

} // namespace mtl::rt

#endif // MTL_RUNTIME_ALIGNED_H
