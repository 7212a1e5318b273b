//===- Strategy.cpp - A run's multi-task optimization strategy ------------===//

#include "runtime/strategy/Strategy.h"

#include <atomic>
#include <cmath>

namespace mtl::rt::strategy {

TaskStrategy::TaskStrategy(const StrategyConfig &config,
                           const std::vector<double> &staticWeights,
                           const OptimizerConfig &opt, uint64_t seed)
    : cfg(config), weighting(makeWeighting(config, staticWeights, opt, seed)),
      seed(seed), weights(staticWeights.begin(), staticWeights.end()) {}

std::vector<float> TaskStrategy::beginStep(int64_t step) {
  // PCGrad's task order: a function of (seed, step), so resumes repeat it.
  rng.seed(seed * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(step));
  weights = weighting->weights(step);
  normsSq.assign(weights.size(), 0.0);
  norms.clear();
  return weights;
}

void TaskStrategy::combine(const std::vector<const float *> &g, int64_t n,
                           float *out, uint32_t taskMask) {
  Gram G = gramMatrix(g, n);
  const size_t T = g.size();
  // Task index of each gradient.
  std::vector<size_t> ids;
  for (size_t t = 0; taskMask && t < 32; ++t)
    if (taskMask >> t & 1)
      ids.push_back(t);
  if (ids.size() != T) {
    ids.resize(T);
    for (size_t t = 0; t < T; ++t)
      ids[t] = t;
  }
  for (size_t t = 0; t < T; ++t) {
    if (ids[t] >= normsSq.size())
      normsSq.resize(ids[t] + 1, 0.0);
    normsSq[ids[t]] += G[t * T + t];
  }
  strategy::combine(g, n, gradientWeights(cfg.gradient, G, cfg.cagradC, rng),
                    out);
}

void TaskStrategy::combineBlocks(
    const std::vector<std::vector<const float *>> &g,
    const std::vector<int64_t> &n, const std::vector<float *> &out) {
  if (g.empty())
    return;
  const size_t T = g.front().size();
  Gram G(T * T, 0.0);
  for (size_t b = 0; b < g.size(); ++b) {
    Gram Gb = gramMatrix(g[b], n[b]);
    for (size_t k = 0; k < G.size(); ++k)
      G[k] += Gb[k];
  }
  if (normsSq.size() < T)
    normsSq.resize(T, 0.0);
  for (size_t t = 0; t < T; ++t)
    normsSq[t] += G[t * T + t];
  std::vector<double> alpha =
      gradientWeights(cfg.gradient, G, cfg.cagradC, rng);
  for (size_t b = 0; b < g.size(); ++b)
    strategy::combine(g[b], n[b], alpha, out[b]);
}

void TaskStrategy::afterStep(const std::vector<float> &losses) {
  norms.clear();
  bool any = false;
  for (double s : normsSq)
    any = any || s > 0.0;
  if (any)
    for (double s : normsSq)
      norms.push_back(std::sqrt(s));
  weighting->afterStep(losses, norms);
}

namespace {
std::atomic<TaskStrategy *> active{nullptr};
}

void setActiveStrategy(TaskStrategy *s) { active.store(s); }
TaskStrategy *activeStrategy() { return active.load(); }

} // namespace mtl::rt::strategy
