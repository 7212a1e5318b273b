//===- LrSchedule.h - The learning rate of every training step -----------===//
//
// `[train] lr_schedule` (docs/dsl.md): constant, cosine (annealed from `lr`
// to `min_lr` over the run, as PyTorch's CosineAnnealingLR), or step (times
// `gamma` every `step_epochs` epochs, as StepLR); the linear warm-up of
// `warmup` steps multiplies any of them. A pure function of the global step,
// so a resumed run follows the uninterrupted run's rates.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_LRSCHEDULE_H
#define MTL_RUNTIME_LRSCHEDULE_H

#include "runtime/Descriptor.h"

#include <cstdint>

namespace mtl::rt {

/// The learning rate of global step `step` (0-based) of a run of
/// `totalSteps` steps, `stepsPerEpoch` per epoch, with base rate `lr` (the
/// spec's or the --lr override).
double learningRate(const TrainSpec &train, double lr, int64_t step,
                    int64_t totalSteps, int64_t stepsPerEpoch);

} // namespace mtl::rt

#endif // MTL_RUNTIME_LRSCHEDULE_H
