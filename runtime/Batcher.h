//===- Batcher.h - Shuffled batches assembled on a background thread -----===//
//
// The order of epoch e is a permutation drawn from a std::mt19937_64 seeded
// with (seed, e) only, so a run is deterministic for a seed and a resumed run
// sees the same batches as an uninterrupted one. A loader thread fills batch
// k+1 into the second of two slots while the caller works on batch k.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_BATCHER_H
#define MTL_RUNTIME_BATCHER_H

#include "runtime/Dataset.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace mtl::rt {

struct Batch {
  int64_t rows = 0;             // real samples; the rest is padding
  std::vector<int64_t> indices; // sample index per row (-1 = padding)
  std::vector<float> images;    // batch x H x W x C
  std::vector<float> mask;      // batch: 1 real, 0 padding
  /// The split's fields, `batch` rows each (missing on padding rows).
  std::vector<Field> fields;
  /// Per task, 1 where the row keeps that task's label; empty = all.
  std::vector<std::vector<uint8_t>> present;

  const Field *field(const std::string &name) const;
  /// The row's `label` field, -1 when missing or absent.
  int32_t label(int64_t r) const;
};

class Batcher {
public:
  enum class Mode {
    Train, // shuffled, last partial batch dropped
    Eval,  // in order, last batch padded with mask 0
  };

  /// `augment` (training only; may be null) is applied to every batch on the
  /// loader thread; its draws depend on (seed, epoch, position in epoch).
  Batcher(const Split &split, int64_t batch, Mode mode, uint64_t seed,
          const AugmentSpec *augment = nullptr);
  ~Batcher();
  Batcher(const Batcher &) = delete;
  Batcher &operator=(const Batcher &) = delete;

  int64_t batchesPerEpoch() const;
  /// The sample order of `epoch` (exposed for tests).
  std::vector<int64_t> order(int64_t epoch) const;

  /// Starts producing the batches of `epoch` (abandoning any current one).
  void startEpoch(int64_t epoch);
  /// The next batch of the epoch, or nullptr at its end. The batch stays valid
  /// until the next call.
  const Batch *next();

private:
  void produce(std::vector<int64_t> order, int64_t epoch);
  void fill(Batch &batch, const std::vector<int64_t> &order, int64_t k,
            int64_t epoch) const;
  void stop();

  const Split &split;
  const int64_t batch;
  const Mode mode;
  const uint64_t seed;
  AugmentSpec augment; // nothing when not training

  // Double buffering: batch k lives in slot k % 2. `ready[s]` is set by the
  // loader when slot s holds the next batch and cleared by the consumer when
  // it moves past it.
  Batch slots[2];
  bool ready[2] = {false, false};
  int64_t consumed = 0; // batches handed out in this epoch
  bool cancel = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::thread loader;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_BATCHER_H
