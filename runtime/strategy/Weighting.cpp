//===- Weighting.cpp - equal and static weights, and the factory ----------===//

#include "runtime/strategy/Weighting.h"
#include "runtime/Error.h"

namespace mtl::rt::strategy {

namespace {
class Fixed : public Weighting {
public:
  explicit Fixed(std::vector<float> w) : w(std::move(w)) {}
  std::vector<float> weights(int64_t) override { return w; }

private:
  std::vector<float> w;
};
} // namespace

std::unique_ptr<Weighting>
makeWeighting(const StrategyConfig &config,
              const std::vector<double> &staticWeights,
              const OptimizerConfig &opt, uint64_t seed) {
  const size_t T = staticWeights.size();
  // Learned weights follow the model's optimizer, without weight decay.
  OptimizerConfig o = opt;
  o.weightDecay = 0.0f;
  const std::string &w = config.weighting;
  if (w == "static")
    return std::make_unique<Fixed>(
        std::vector<float>(staticWeights.begin(), staticWeights.end()));
  if (w == "equal")
    return std::make_unique<Fixed>(std::vector<float>(T, 1.0f));
  if (w == "uncertainty")
    return makeUncertainty(T, o);
  if (w == "dwa")
    return makeDwa(T, config.dwaTemperature);
  if (w == "rlw")
    return makeRlw(T, seed);
  if (w == "gradnorm")
    return makeGradNorm(T, config.gradnormAlpha, o);
  fail("unknown weighting '{}' (expected equal, static, uncertainty, dwa, "
       "gradnorm or rlw)",
       w);
}

} // namespace mtl::rt::strategy
