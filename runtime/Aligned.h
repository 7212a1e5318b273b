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
#include <new>
#include <vector>

namespace mtl::rt {

constexpr size_t kBufferAlignment = 128;

template <class T> struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U> AlignedAllocator(const AlignedAllocator<U> &) {}
  T *allocate(size_t n) {
    return static_cast<T *>(
        ::operator new(n * sizeof(T), std::align_val_t(kBufferAlignment)));
  }
  void deallocate(T *p, size_t) {
    ::operator delete(p, std::align_val_t(kBufferAlignment));
  }
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
