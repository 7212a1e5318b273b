//===- Checkpoint.h - Atomic, checksummed training checkpoints -----------===//
//
// Layout (little-endian):
//   "MTLCKPT1" | u64 header size | JSON header | f32 data | u32 CRC32
// The header names every parameter with its shape and float offset into the
// data, the optimizer kind, step count and the offsets of its state arrays,
// the epoch and the global step. The CRC covers every byte before it.
//
// Writing goes to `path.tmp`, is flushed and fsynced, then renamed over
// `path`: a crash or a failed write never destroys the last good checkpoint.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_CHECKPOINT_H
#define MTL_RUNTIME_CHECKPOINT_H

#include "runtime/Descriptor.h"

#include <string>
#include <utility>
#include <vector>

namespace mtl::rt {

struct CheckpointState {
  std::string model;
  std::vector<std::pair<std::string, Shape>> params; // name, shape
  std::vector<float> values;                         // all params, in order
  std::vector<std::pair<std::string, Shape>> states; // non-trained tensors
  std::vector<float> stateValues;                    // all states, in order
  std::string optimizer;                             // adam | sgd
  int64_t optimizerSteps = 0;
  std::vector<std::pair<std::string, std::vector<float>>> optimizerState;
  int64_t epoch = 0;      // completed epochs
  int64_t globalStep = 0; // completed train steps
  uint64_t seed = 0;      // the run's seed (data order depends on it)
  /// The multi-task strategy's named state arrays (learned weights, loss
  /// history, ...); empty for a static weighting.
  std::vector<std::pair<std::string, std::vector<float>>> strategyState;
  /// `train --keep-best`: the lowest validation loss so far and its epoch
  /// (bestEpoch 0: none recorded).
  double bestValidationLoss = 0.0;
  int64_t bestEpoch = 0;
};

/// Writes atomically; throws Error (and leaves `path` untouched) on failure.
void writeCheckpoint(const std::string &path, const CheckpointState &state);

/// Reads and validates magic, CRC and header; throws Error naming `path`.
CheckpointState readCheckpoint(const std::string &path);

/// Throws Error unless `state` belongs to `desc`: same model name and the
/// same parameter (and state) names and shapes in the same order.
void checkCompatible(const CheckpointState &state, const Descriptor &desc,
                     const std::string &path);

} // namespace mtl::rt

#endif // MTL_RUNTIME_CHECKPOINT_H
