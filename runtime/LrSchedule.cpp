//===- LrSchedule.cpp - The learning rate of every training step ---------===//
#include "runtime/LrSchedule.h"

#include <algorithm>
#include <cmath>

namespace mtl::rt {

double learningRate(const TrainSpec &train, double lr, int64_t step,
                    int64_t totalSteps, int64_t stepsPerEpoch) {
  double rate = lr;
  if (train.lrSchedule == "cosine" && totalSteps > 1) {
    double t = std::clamp(double(step) / double(totalSteps - 1), 0.0, 1.0);
    double floor = std::min(train.minLr, lr);
    rate = floor + 0.5 * (lr - floor) * (1.0 + std::cos(M_PI * t));
  } else if (train.lrSchedule == "step" && stepsPerEpoch > 0 &&
             train.stepEpochs > 0) {
    int64_t epoch = step / stepsPerEpoch;
    rate = lr * std::pow(train.gamma, double(epoch / train.stepEpochs));
  }
  // Linear warm-up: Adam's first steps move every weight by the full lr at
  // once (m/sqrt(v) = +-1), which can throw a sigmoid head deep into
  // saturation, where its gradient vanishes for good.
  if (train.warmup > 0)
    rate *= std::min(1.0, double(step + 1) / double(train.warmup));
  return rate;
}

} // namespace mtl::rt
