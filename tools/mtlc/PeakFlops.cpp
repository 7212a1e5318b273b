//===- PeakFlops.cpp - The machine's measured fp32 FMA peak ---------------===//
//
// 12 independent accumulators hide the FMA latency (4 cycles) on two FMA
// ports; the chains never touch memory, so this is the arithmetic peak the
// kernels' GFLOP/s are compared with.
//
//===----------------------------------------------------------------------===//
#include "tools/mtlc/PeakFlops.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr long kInner = 1 << 16;

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// One body per ISA: intrinsics must be compiled inside a function with the
// matching target attribute. Returns GFLOP/s (2 per lane per FMA).
#define MTL_FMA_CHAINS(VEC, SET1, FMA, LANES)                                  \
  /* Distinct starting values: identical chains would be merged. */            \
  VEC a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f),  \
      a4 = SET1(1.04f), a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f),  \
      a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f),                   \
      a11 = SET1(1.11f);                                                       \
  const VEC m = SET1(0.999999f), c = SET1(1e-7f);                              \
  long iterations = 0;                                                         \
  auto start = std::chrono::steady_clock::now();                               \
  double elapsed;                                                              \
  do {                                                                         \
    for (long k = 0; k < kInner; ++k) {                                        \
      a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c);              \
      a3 = FMA(a3, m, c), a4 = FMA(a4, m, c), a5 = FMA(a5, m, c);              \
      a6 = FMA(a6, m, c), a7 = FMA(a7, m, c), a8 = FMA(a8, m, c);              \
      a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c);          \
    }                                                                          \
    iterations += kInner;                                                      \
  } while ((elapsed = secondsSince(start)) < seconds);                         \
  VEC sum = FMA(                                                               \
      a0, a1,                                                                  \
      FMA(a2, a3, FMA(a4, a5, FMA(a6, a7, FMA(a8, a9, FMA(a10, a11, c))))));   \
  std::memcpy(sink, &sum, sizeof(float)); /* keep the chains alive */          \
  return 2.0 * LANES * 12 * double(iterations) / elapsed / 1e9;

__attribute__((target("avx512f"))) double avx512(double seconds, float *sink) {
  MTL_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
}

__attribute__((target("avx2,fma"))) double avx2(double seconds, float *sink) {
  MTL_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
}

__attribute__((target("sse4.1"))) inline __m128 mulAdd(__m128 a, __m128 b,
                                                       __m128 c) {
  return _mm_add_ps(_mm_mul_ps(a, b), c);
}

__attribute__((target("sse4.1"))) double sse41(double seconds, float *sink) {
  MTL_FMA_CHAINS(__m128, _mm_set1_ps, mulAdd, 4)
}

#undef MTL_FMA_CHAINS

} // namespace

namespace {
double measureOnce(int threads, double seconds, std::string isa) {
  if (isa.empty())
    isa = __builtin_cpu_supports("avx512f") ? "avx512" : "avx2";
  std::vector<double> rates(std::max(threads, 1));
  std::vector<float> sinks(rates.size());
  std::vector<std::thread> pool;
  for (size_t t = 0; t < rates.size(); ++t)
    pool.emplace_back([&, t] {
      rates[t] = isa == "avx512" ? avx512(seconds, &sinks[t])
                 : isa == "avx2" ? avx2(seconds, &sinks[t])
                                 : sse41(seconds, &sinks[t]);
    });
  for (std::thread &t : pool)
    t.join();
  double total = 0;
  for (double r : rates)
    total += r;
  return total;
}
} // namespace

double mtl::measurePeakGflops(int threads, double seconds,
                              const std::string &isa) {
  // The best of three: a peak is what the machine can do, and a shared
  // machine's other load only ever lowers a measurement.
  double best = 0;
  for (int i = 0; i < 3; ++i)
    best = std::max(best, measureOnce(threads, seconds / 3, isa));
  return best;
}
