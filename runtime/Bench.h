//===- Bench.h - Timing of a training step --------------------------------===//
#ifndef MTL_RUNTIME_BENCH_H
#define MTL_RUNTIME_BENCH_H

#include "runtime/Model.h"

namespace mtl::rt {

struct BenchResult {
  double medianMs = 0.0;       // train_step + optimizer update
  double updateMedianMs = 0.0; // the optimizer update alone
  double samplesPerSecond = 0.0;
  int64_t batch = 0;
  int threads = 0; // Halide's worker threads (HL_NUM_THREADS or cores)
};

/// Times `steps` train steps on random data after `warmup` untimed ones.
BenchResult benchTrainStep(Model &model, int64_t steps, int64_t warmup,
                           uint64_t seed);

} // namespace mtl::rt

#endif // MTL_RUNTIME_BENCH_H
