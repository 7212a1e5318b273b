//===- Bench.cpp - Timing of a training step -----------------------------===//

#include "runtime/Bench.h"
#include "runtime/Batcher.h"
#include "runtime/Pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

namespace mtl::rt {

namespace {

// Class ids of `field` valid for every task reading it: below each
// target_map size and class count.
int32_t labelRange(const Descriptor &d, const std::string &field) {
  int64_t range = 1 << 30;
  for (const TaskSpec &t : d.tasks) {
    if (t.target != field)
      continue;
    if (!t.targetMap.empty())
      range = std::min<int64_t>(range, t.targetMap.size());
    else if (t.isClassification())
      range = std::min(range, t.numClasses());
  }
  return static_cast<int32_t>(range == (1 << 30) ? 10 : range);
}

} // namespace

BenchResult benchTrainStep(Model &model, int64_t steps, int64_t warmup,
                           uint64_t seed) {
  const Descriptor &d = model.desc();
  model.initParams(seed);
  auto opt = makeOptimizer(OptimizerConfig::from(d.train), model.values.size());
  Pipeline pipeline(model, "train_step");

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  Batch batch;
  batch.rows = d.batch;
  batch.images.resize(d.batch * numElements(d.inputShape));
  for (float &p : batch.images)
    p = pixel(rng);
  for (int64_t r = 0; r < d.batch; ++r) {
    batch.indices.push_back(r);
    batch.mask.push_back(1.0f);
  }
  // Random values for every field a task reads.
  for (const FieldSpec &fs : d.fields) {
    if (fs.name == "image")
      continue;
    Field f;
    f.name = fs.name;
    f.dtype = fs.dtype;
    f.shape = fs.shape;
    int64_t n = d.batch * numElements(fs.shape);
    if (fs.dtype == DType::I32) {
      std::uniform_int_distribution<int32_t> label(0,
                                                   labelRange(d, fs.name) - 1);
      for (int64_t i = 0; i < n; ++i)
        f.ints.push_back(label(rng));
    } else {
      for (int64_t i = 0; i < n; ++i)
        f.floats.push_back(pixel(rng));
    }
    batch.fields.push_back(std::move(f));
  }
  pipeline.setBatch(batch);
  pipeline.setSeed(1);

  std::vector<double> times, updates;
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  for (int64_t i = 0; i < warmup + steps; ++i) {
    auto start = Clock::now();
    pipeline.run();
    pipeline.commitStates();
    auto update = Clock::now();
    opt->step(model.values.data(), model.grads.data());
    auto end = Clock::now();
    if (i >= warmup) {
      times.push_back(ms(start, end));
      updates.push_back(ms(update, end));
    }
  }
  auto median = [](std::vector<double> &t) {
    std::sort(t.begin(), t.end());
    return t.empty() ? 0.0 : t[t.size() / 2];
  };
  BenchResult r;
  r.medianMs = median(times);
  r.updateMedianMs = median(updates);
  r.batch = d.batch;
  r.samplesPerSecond = r.medianMs > 0 ? d.batch * 1000.0 / r.medianMs : 0.0;
  const char *env = std::getenv("HL_NUM_THREADS");
  r.threads = env && std::atoi(env) > 0
                  ? std::atoi(env)
                  : static_cast<int>(std::thread::hardware_concurrency());
  return r;
}

} // namespace mtl::rt
