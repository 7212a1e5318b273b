//===- PeakBandwidth.cpp - The machine's measured streaming bandwidth -----===//
//
// A copy loop with ordinary (write-allocating) stores, not memcpy: glibc
// switches to non-temporal stores for large copies, which Halide's kernels
// do not use, so memcpy would overstate what a kernel can stream.
//
//===----------------------------------------------------------------------===//
#include "tools/mtlc/PeakBandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Scaling by a runtime factor keeps the compiler from turning the loop into
// a memcpy call; one clone per instruction set, as runtime/Adam.cpp does.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
copyScaled(const float *__restrict src, float *__restrict dst, size_t n,
           float scale) {
  for (size_t i = 0; i < n; ++i)
    dst[i] = src[i] * scale;
}

/// Bytes moved per second by one thread copying between its own buffers.
double streamOnce(double seconds, size_t n) {
  float *a = static_cast<float *>(std::aligned_alloc(64, n * sizeof(float)));
  float *b = static_cast<float *>(std::aligned_alloc(64, n * sizeof(float)));
  if (!a || !b) {
    std::free(a);
    std::free(b);
    return 0;
  }
  std::fill(a, a + n, 1.0f);
  std::memset(b, 0, n * sizeof(float)); // fault the pages in, untimed
  double best = 0;
  auto start = std::chrono::steady_clock::now();
  do {
    auto t0 = std::chrono::steady_clock::now();
    copyScaled(a, b, n, 1.0f);
    std::swap(a, b);
    best = std::max(best, 2.0 * n * sizeof(float) / secondsSince(t0));
  } while (secondsSince(start) < seconds);
  std::free(a);
  std::free(b);
  return best;
}

} // namespace

double mtl::measureBandwidthGBs(int threads, double seconds, int megabytes) {
  const size_t n = (size_t(std::max(megabytes, 1)) << 20) / sizeof(float);
  std::vector<double> rates(std::max(threads, 1));
  std::vector<std::thread> pool;
  for (size_t t = 0; t < rates.size(); ++t)
    pool.emplace_back([&, t] { rates[t] = streamOnce(seconds, n); });
  for (std::thread &t : pool)
    t.join();
  // Each thread's best pass; the sum assumes the threads' best passes
  // overlapped, which they do when the machine is otherwise idle.
  double total = 0;
  for (double r : rates)
    total += r;
  return total / 1e9;
}
