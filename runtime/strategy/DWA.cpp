//===- DWA.cpp - Dynamic weight average -----------------------------------===//
//
// Liu et al. 2019, as LibMTL: weights 1 for the first two epochs, then
// T * softmax(r / temperature) with r_t = L_t(e-1) / L_t(e-2), L the mean
// training loss of an epoch. State: the running sums of the current epoch
// and the last two epoch means.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/Weighting.h"

#include <algorithm>
#include <cmath>

namespace mtl::rt::strategy {

std::vector<float> dwaWeights(const std::vector<double> &last,
                              const std::vector<double> &beforeLast,
                              double temperature) {
  const size_t T = last.size();
  std::vector<double> r(T);
  double mx = -INFINITY;
  for (size_t t = 0; t < T; ++t) {
    r[t] = last[t] / std::max(beforeLast[t], 1e-12) / temperature;
    mx = std::max(mx, r[t]);
  }
  double z = 0.0;
  for (double &x : r)
    z += (x = std::exp(x - mx));
  std::vector<float> w(T);
  for (size_t t = 0; t < T; ++t)
    w[t] = static_cast<float>(T * r[t] / z);
  return w;
}

namespace {
class Dwa : public Weighting {
public:
  Dwa(size_t T, double temperature)
      : T(T), temperature(temperature), sums(T + 1, 0.0f),
        history(2 * T + 1, 0.0f) {}

  std::vector<float> weights(int64_t) override {
    if (history[2 * T] < 2)
      return std::vector<float>(T, 1.0f);
    std::vector<double> last(T), before(T);
    for (size_t t = 0; t < T; ++t) {
      last[t] = history[T + t];
      before[t] = history[t];
    }
    return dwaWeights(last, before, temperature);
  }
  void afterStep(const std::vector<float> &losses,
                 const std::vector<double> &) override {
    for (size_t t = 0; t < T; ++t)
      sums[t] += losses[t];
    sums[T] += 1.0f;
  }
  void afterEpoch() override {
    if (sums[T] == 0.0f)
      return;
    // history = [epoch e-2 means | epoch e-1 means | epochs seen]
    for (size_t t = 0; t < T; ++t) {
      history[t] = history[T + t];
      history[T + t] = sums[t] / sums[T];
    }
    history[2 * T] += 1.0f;
    std::fill(sums.begin(), sums.end(), 0.0f);
  }
  NamedArrays state() override {
    return {{"dwa.epoch_sums", &sums}, {"dwa.history", &history}};
  }

private:
  size_t T;
  double temperature;
  std::vector<float> sums, history;
};
} // namespace

std::unique_ptr<Weighting> makeDwa(size_t T, double temperature) {
  return std::make_unique<Dwa>(T, temperature);
}

} // namespace mtl::rt::strategy
