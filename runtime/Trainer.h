//===- Trainer.h - The training loop --------------------------------------===//
//
// For each epoch: batches -> train_step (input, targets, masks, params ->
// losses, predictions, grads of the weighted loss sum) -> optimizer update
// -> running per-task loss and metrics -> progress -> checkpoint at the end
// of the epoch (and, with keepBest, a copy when the validation loss is the
// lowest so far). A non-finite loss stops the run before anything is saved.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_TRAINER_H
#define MTL_RUNTIME_TRAINER_H

#include "runtime/Dataset.h"
#include "runtime/Model.h"

#include <cstdio>

namespace mtl::rt {

struct TrainOptions {
  int64_t epochs = 1; // total epochs, counting resumed ones
  float lr = 1e-3f;
  uint64_t seed = 1;      // init and data order (a resume keeps its own)
  std::string checkpoint; // written after every epoch; "" = none
  bool resume = false;    // continue from `checkpoint`
  bool quiet = false;     // no progress or epoch lines
  std::string log;        // metrics log (JSON lines); "" = none
  /// Strategy overrides ("" = the descriptor's): another weighting or
  /// gradient method than the spec's, where the binary's train step allows
  /// it (run-time weights; task joins or per-task gradients).
  std::string weighting, gradient;
  /// Evaluated with eval_step after every epoch when non-null and non-empty.
  const Split *validation = nullptr;
  /// Also keep the checkpoint of the epoch with the lowest validation loss
  /// (the weighted sum over tasks, as the training objective) in
  /// `checkpoint + ".best"`: early stopping without stopping. Needs a
  /// validation split and a checkpoint.
  bool keepBest = false;
};

struct EpochSummary {
  int64_t epoch = 0; // 1-based
  double loss = 0.0; // sum over tasks of weight * mean loss
  std::vector<std::vector<std::pair<std::string, double>>> tasks;
  double seconds = 0.0;
  double samplesPerSecond = 0.0;
  /// Per task, loss and metrics on the validation split (empty without one).
  std::vector<std::vector<std::pair<std::string, double>>> validation;
};

/// The `seed` argument of train step `step` (0-based global step) of a run
/// seeded with `seed`: non-negative, different for every step.
int32_t stepSeed(uint64_t seed, int64_t step);

/// The fixed `seed` argument of eval_step and predict.
constexpr int32_t kEvalSeed = 0;

/// Trains `model` on `data`; returns one summary per epoch run. Progress goes
/// to `out` (a single updating line when it is a terminal).
std::vector<EpochSummary> train(Model &model, const Split &data,
                                const TrainOptions &options,
                                FILE *out = stdout);

} // namespace mtl::rt

#endif // MTL_RUNTIME_TRAINER_H
