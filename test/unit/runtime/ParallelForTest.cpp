//===- ParallelForTest.cpp - the runtime's loops on a Halide thread pool --===//
//
// runtime_tests links no Halide runtime, so this file stands in for one: a
// halide_do_par_for that runs the tasks in reverse order on two threads.
// Every parallelFor of the runtime (the optimizers' updates) goes through
// it here, as it goes through Halide's pool in a model binary.
//
//===----------------------------------------------------------------------===//
#include "runtime/ParallelFor.h"
#include "runtime/Adam.h"
#include "runtime/Sgd.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

namespace {
std::atomic<int> parForCalls{0};
} // namespace

extern "C" int halide_do_par_for(void *user_context, halide_task_t task,
                                 int min, int size, uint8_t *closure) {
  ++parForCalls;
  std::atomic<int> next{min + size - 1};
  auto worker = [&] {
    for (int t; (t = next--) >= min;)
      task(user_context, t, closure);
  };
  std::thread other(worker);
  worker();
  other.join();
  return 0;
}

using namespace mtl::rt;

TEST(ParallelFor, CoversEveryIndexOnceInGrainSizedChunks) {
  std::vector<std::atomic<int>> hits(1000);
  std::atomic<int> chunks{0};
  int before = parForCalls;
  parallelFor(1000, 64, [&](size_t begin, size_t end) {
    EXPECT_EQ(begin % 64, 0u);
    EXPECT_LE(end - begin, 64u);
    ++chunks;
    for (size_t i = begin; i < end; ++i)
      ++hits[i];
  });
  EXPECT_EQ(parForCalls - before, 1);
  EXPECT_EQ(chunks, 16);
  for (auto &h : hits)
    EXPECT_EQ(h, 1);
}

TEST(ParallelFor, OneChunkRunsInlineAndEmptyRunsNothing) {
  int before = parForCalls, calls = 0;
  parallelFor(10, 64, [&](size_t b, size_t e) { calls += e - b == 10; });
  parallelFor(0, 64, [&](size_t, size_t) { ++calls; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(parForCalls, before);
}

// The parallel updates equal the element-wise formulas, chunk borders
// included (several grains of parameters).
TEST(ParallelFor, AdamAndSgdOverManyChunksMatchTheFormula) {
  const size_t n = 3 * kOptimizerGrain + 123;
  std::vector<float> p(n), g(n);
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::sin(0.001f * i);
    g[i] = std::cos(0.003f * i);
  }
  OptimizerConfig c;
  c.lr = 0.01f;
  c.weightDecay = 0.1f;
  std::vector<float> pa = p;
  int before = parForCalls;
  Adam adam(c, n);
  adam.step(pa.data(), g.data());
  // First Adam step: m = (1-b1) g', v = (1-b2) g'^2, p -= lr * sign(g').
  for (size_t i = 0; i < n; i += 997) {
    float gi = g[i] + 0.1f * p[i];
    float m = 0.1f * gi / 0.1f, v = std::sqrt(0.001f * gi * gi / 0.001f);
    ASSERT_NEAR(pa[i], p[i] - 0.01f * m / (v + 1e-8f), 1e-6) << i;
  }
  c.kind = "sgd";
  c.momentum = 0.9f;
  std::vector<float> ps = p;
  Sgd sgd(c, n);
  sgd.step(ps.data(), g.data());
  for (size_t i = 0; i < n; i += 997)
    ASSERT_NEAR(ps[i], p[i] - 0.01f * (g[i] + 0.1f * p[i]), 1e-6) << i;
  EXPECT_EQ(parForCalls - before, 2);
}
