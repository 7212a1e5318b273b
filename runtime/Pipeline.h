//===- Pipeline.h - A compiled pipeline with its buffers bound ------------===//
//
// Allocates one Halide buffer per pipeline argument and output, in descriptor
// order, once: parameters and gradients are views into the Model's arrays,
// everything else is owned here. `setBatch` fills the input and every task's
// target and mask from a Batch; `run` calls the pipeline's `_argv` entry.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_PIPELINE_H
#define MTL_RUNTIME_PIPELINE_H

#include "runtime/Aligned.h"
#include "runtime/Batcher.h"
#include "runtime/Metrics.h"
#include "runtime/Model.h"

#include <HalideBuffer.h>

#include <tuple>

namespace mtl::rt {

class Pipeline {
public:
  Pipeline(Model &model, const std::string &name);
  // The bound buffers point into this object.
  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;

  /// Fills the input batch and every task's target and mask. A row's mask
  /// is 0 for padding, a missing target (class -1 after target_map, a NaN
  /// value) and a label withheld by label_fraction (Batch::present).
  void setBatch(const Batch &batch);
  /// Sets the `seed` argument (when the pipeline takes one).
  void setSeed(int32_t seed);
  /// Sets the `loss_weights` argument (when the pipeline takes one; it
  /// starts as the descriptor's static task weights).
  void setLossWeights(const std::vector<float> &weights);
  bool takesLossWeights() const { return lossWeightsSlot >= 0; }
  /// The per-task gradients of shared parameters (`task_grad` outputs):
  /// parameter index, task index and the data.
  struct TaskGrad {
    size_t param, task;
    const float *data;
  };
  std::vector<TaskGrad> taskGrads() const;
  /// Calls the pipeline; throws Error when it reports a failure.
  void run();
  /// Copies every `state_out` output into its state (after a train step).
  void commitStates();
  bool hasStateOutputs() const { return !stateOuts.empty(); }

  /// The input batch (batch x H x W x C), e.g. for random benchmark data.
  float *input() { return inputData.data(); }
  /// Task `t`'s loss output (0 when the pipeline has none).
  float loss(size_t t) const;
  /// Task `t`'s view for metrics: prediction, target and mask.
  TaskBatch taskBatch(size_t t) const;
  const float *prediction(size_t t) const;
  bool hasPrediction(size_t t) const { return predictions[t] >= 0; }
  const PipelineSpec &spec() const { return *pipelineSpec; }

private:
  struct Slot {
    const TensorSpec *spec;
    AlignedVector<float> f32; // owned storage, when not a view
    AlignedVector<int32_t> i32;
    Halide::Runtime::Buffer<> buffer;
  };

  Model &model;
  const PipelineSpec *pipelineSpec;
  const PipelineEntry *entry;
  int64_t batch;
  std::vector<Slot> slots; // args then outputs
  std::vector<void *> argv;

  // Per task, in descriptor order, whether or not the pipeline reads them:
  // metrics need them too.
  AlignedVector<float> inputData;
  std::vector<AlignedVector<int32_t>> classes;
  std::vector<AlignedVector<float>> values; // regression targets
  std::vector<AlignedVector<float>> masks;
  std::vector<int> losses, predictions;          // slot index or -1
  std::vector<std::pair<int, size_t>> stateOuts; // slot, state index
  int lossWeightsSlot = -1;
  std::vector<std::tuple<int, size_t, size_t>> taskGradSlots; // slot, param,
                                                              // task
  AlignedVector<int32_t> seedData;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_PIPELINE_H
