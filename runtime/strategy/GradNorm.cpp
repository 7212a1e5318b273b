//===- GradNorm.cpp - Gradient normalization ------------------------------===//
//
// Chen et al. 2018: learned weights w (init 1). After each step, with G_t the
// norm of task t's weighted gradient at the shared representation (w_t
// |grad L_t|), r_t = (L_t / L_t(0)) / mean_k (L_k / L_k(0)) and the target
// mean(G) r_t^alpha held constant, the GradNorm loss sum_t |G_t - target_t|
// has d/dw_t = sign(G_t - target_t) |grad L_t|; w takes an optimizer step on
// it and is renormalized to sum to T.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/Weighting.h"

#include <cmath>

namespace mtl::rt::strategy {

namespace {
class GradNorm : public Weighting {
public:
  GradNorm(size_t T, double alpha, const OptimizerConfig &o)
      : T(T), alpha(alpha), w(T, 1.0f), initial(T + 1, 0.0f),
        opt(makeOptimizer(o, T)) {}

  std::vector<float> weights(int64_t) override { return w; }
  bool needsGradNorms() const override { return true; }

  void afterStep(const std::vector<float> &losses,
                 const std::vector<double> &G) override {
    if (G.size() != T)
      return;
    if (initial[T] == 0.0f) { // L(0): the first step's losses
      for (size_t t = 0; t < T; ++t)
        initial[t] = std::max(losses[t], 1e-12f);
      initial[T] = 1.0f;
    }
    double meanG = 0.0, meanRatio = 0.0;
    for (size_t t = 0; t < T; ++t) {
      meanG += G[t] / T;
      meanRatio += losses[t] / initial[t] / T;
    }
    std::vector<float> grad(T);
    for (size_t t = 0; t < T; ++t) {
      double r = losses[t] / initial[t] / std::max(meanRatio, 1e-12);
      double target = meanG * std::pow(r, alpha);
      double unweighted = G[t] / std::max<double>(w[t], 1e-12);
      grad[t] = static_cast<float>((G[t] > target ? 1.0 : -1.0) * unweighted);
    }
    opt->step(w.data(), grad.data());
    steps[0] = static_cast<float>(opt->steps());
    double sum = 0.0;
    for (float &x : w)
      sum += (x = std::max(x, 1e-4f));
    for (float &x : w)
      x = static_cast<float>(x * T / sum);
  }
  NamedArrays state() override {
    NamedArrays out = {{"gradnorm.weights", &w},
                       {"gradnorm.initial_losses", &initial},
                       {"gradnorm.opt_steps", &steps}};
    for (auto &[name, data] : opt->state())
      out.emplace_back("gradnorm.opt." + name, data);
    return out;
  }
  void restored() override { opt->setSteps(static_cast<int64_t>(steps[0])); }

private:
  size_t T;
  double alpha;
  std::vector<float> w, initial;
  std::vector<float> steps = {0.0f};
  std::unique_ptr<Optimizer> opt;
};
} // namespace

std::unique_ptr<Weighting> makeGradNorm(size_t T, double alpha,
                                        const OptimizerConfig &o) {
  return std::make_unique<GradNorm>(T, alpha, o);
}

} // namespace mtl::rt::strategy
