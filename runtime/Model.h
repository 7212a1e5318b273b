//===- Model.h - The descriptor, the pipelines and the parameters --------===//
//
// All parameters live in one float array (descriptor order, each starting on
// a 128-byte boundary, zero padding between) and their gradients in another
// of the same layout: the pipelines read and write views into them, and the
// optimizer updates the whole model in one loop (the padding stays zero).
// Checkpoints hold the parameters back to back, without the padding.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_MODEL_H
#define MTL_RUNTIME_MODEL_H

#include "runtime/Aligned.h"
#include "runtime/Checkpoint.h"
#include "runtime/CompiledModel.h"
#include "runtime/Descriptor.h"
#include "runtime/Optimizer.h"

namespace mtl::rt {

class Model {
public:
  /// Parses the descriptor and checks every linked pipeline against it
  /// (argument count vs. Halide metadata). Throws Error.
  explicit Model(const CompiledModel &compiled);

  const Descriptor &desc() const { return descriptor; }
  /// The entry of pipeline `name`; throws Error when the binary lacks it.
  const PipelineEntry &entry(const std::string &name) const;
  /// The descriptor of pipeline `name`; throws Error when absent or empty.
  const PipelineSpec &pipeline(const std::string &name) const;
  bool hasPipeline(const std::string &name) const;

  float *param(size_t i) { return values.data() + offsets[i]; }
  float *grad(size_t i) { return grads.data() + offsets[i]; }
  size_t paramIndex(const std::string &name) const;
  /// Non-trained state `i` (descriptor order), 128-byte aligned.
  float *state(size_t i) { return stateValues.data() + stateOffsets[i]; }
  const float *state(size_t i) const {
    return stateValues.data() + stateOffsets[i];
  }
  size_t stateIndex(const std::string &name) const;

  /// Initializes the parameters (seeded) and the states (zeros / ones).
  void initParams(uint64_t seed);
  void initStates();
  CheckpointState snapshot(Optimizer &opt, int64_t epoch, int64_t step,
                           uint64_t seed) const;
  /// Loads parameters (and, when `opt` is given, its state) from `state`,
  /// which must match this model; `path` is for messages.
  void restore(const CheckpointState &state, Optimizer *opt,
               const std::string &path);

  AlignedVector<float> values;      // all parameters
  AlignedVector<float> grads;       // their gradients, same layout
  AlignedVector<float> stateValues; // all states, the same aligned layout

private:
  Descriptor descriptor;
  std::vector<int64_t> offsets;
  std::vector<int64_t> stateOffsets;
  std::vector<PipelineEntry> entries;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_MODEL_H
