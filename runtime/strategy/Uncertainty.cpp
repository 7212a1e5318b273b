//===- Uncertainty.cpp - Learned homoscedastic-uncertainty weights --------===//
//
// Kendall et al. 2018 in LibMTL's form: s_t = log sigma_t^2 (init 0), the
// objective is sum_t exp(-s_t) L_t / 2 + s_t / 2, so the step's loss weights
// are exp(-s_t) / 2 and dJ/ds_t = (1 - exp(-s_t) L_t) / 2. s is updated after
// every step with its own instance of the model's optimizer.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/Weighting.h"

#include <cmath>

namespace mtl::rt::strategy {

std::vector<float> uncertaintyWeights(const std::vector<float> &s) {
  std::vector<float> w(s.size());
  for (size_t t = 0; t < s.size(); ++t)
    w[t] = 0.5f * std::exp(-s[t]);
  return w;
}

std::vector<float> uncertaintyGrad(const std::vector<float> &s,
                                   const std::vector<float> &losses) {
  std::vector<float> g(s.size());
  for (size_t t = 0; t < s.size(); ++t)
    g[t] = 0.5f * (1.0f - std::exp(-s[t]) * losses[t]);
  return g;
}

namespace {
class Uncertainty : public Weighting {
public:
  Uncertainty(size_t T, const OptimizerConfig &o)
      : s(T, 0.0f), opt(makeOptimizer(o, T)) {}

  std::vector<float> weights(int64_t) override { return uncertaintyWeights(s); }
  void afterStep(const std::vector<float> &losses,
                 const std::vector<double> &) override {
    std::vector<float> g = uncertaintyGrad(s, losses);
    opt->step(s.data(), g.data());
    steps[0] = static_cast<float>(opt->steps());
  }
  NamedArrays state() override {
    NamedArrays out = {{"uncertainty.log_var", &s},
                       {"uncertainty.opt_steps", &steps}};
    for (auto &[name, data] : opt->state())
      out.emplace_back("uncertainty.opt." + name, data);
    return out;
  }
  void restored() override { opt->setSteps(static_cast<int64_t>(steps[0])); }

private:
  std::vector<float> s;
  std::vector<float> steps = {0.0f};
  std::unique_ptr<Optimizer> opt;
};
} // namespace

std::unique_ptr<Weighting> makeUncertainty(size_t T, const OptimizerConfig &o) {
  return std::make_unique<Uncertainty>(T, o);
}

} // namespace mtl::rt::strategy
