//===- RLW.cpp - Random loss weighting ------------------------------------===//
//
// Lin et al. 2021, as LibMTL: every step, softmax of T standard normal
// samples. The samples come from a generator seeded with (run seed, step),
// so a resumed run draws exactly what the uninterrupted one would have, with
// no generator state to save.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/Weighting.h"

#include <cmath>
#include <random>

namespace mtl::rt::strategy {

namespace {
class Rlw : public Weighting {
public:
  Rlw(size_t T, uint64_t seed) : T(T), seed(seed) {}
  std::vector<float> weights(int64_t step) override {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x726c77ull +
                        static_cast<uint64_t>(step));
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> z(T);
    double mx = -INFINITY, sum = 0.0;
    for (double &x : z)
      mx = std::max(mx, x = normal(rng));
    for (double &x : z)
      sum += (x = std::exp(x - mx));
    std::vector<float> w(T);
    for (size_t t = 0; t < T; ++t)
      w[t] = static_cast<float>(z[t] / sum);
    return w;
  }

private:
  size_t T;
  uint64_t seed;
};
} // namespace

std::unique_ptr<Weighting> makeRlw(size_t T, uint64_t seed) {
  return std::make_unique<Rlw>(T, seed);
}

} // namespace mtl::rt::strategy
