//===- Batcher.cpp - Shuffled batches on a background thread -------------===//

#include "runtime/Batcher.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

namespace mtl::rt {

Batcher::Batcher(const Split &split, int64_t batch, Mode mode, uint64_t seed)
    : split(split), batch(batch), mode(mode), seed(seed) {
  for (Batch &b : slots) {
    b.indices.resize(batch);
    b.images.resize(batch * split.imageSize());
    b.labels.resize(batch);
    b.mask.resize(batch);
  }
}

Batcher::~Batcher() { stop(); }

int64_t Batcher::batchesPerEpoch() const {
  return mode == Mode::Train ? split.size / batch
                             : (split.size + batch - 1) / batch;
}

std::vector<int64_t> Batcher::order(int64_t epoch) const {
  std::vector<int64_t> order(split.size);
  std::iota(order.begin(), order.end(), 0);
  if (mode == Mode::Train) {
    // Mix the epoch into the seed so each epoch has its own permutation.
    std::seed_seq seq{
        static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
        static_cast<uint32_t>(epoch), static_cast<uint32_t>(epoch >> 32)};
    std::mt19937_64 rng(seq);
    // Fisher-Yates with our own index draw: std::shuffle's use of the engine
    // is implementation-defined, this is reproducible everywhere.
    for (int64_t i = split.size - 1; i > 0; --i) {
      int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
      std::swap(order[i], order[j]);
    }
  }
  return order;
}

void Batcher::fill(Batch &b, const std::vector<int64_t> &order,
                   int64_t k) const {
  const int64_t imageSize = split.imageSize();
  int64_t begin = k * batch;
  b.rows = std::min<int64_t>(batch, split.size - begin);
  for (int64_t r = 0; r < batch; ++r) {
    float *dst = &b.images[r * imageSize];
    if (r < b.rows) {
      int64_t i = order[begin + r];
      b.indices[r] = i;
      std::memcpy(dst, split.image(i), imageSize * sizeof(float));
      b.labels[r] = split.labels[i];
      b.mask[r] = 1.0f;
    } else {
      b.indices[r] = -1;
      std::fill(dst, dst + imageSize, 0.0f);
      b.labels[r] = 0;
      b.mask[r] = 0.0f;
    }
  }
}

void Batcher::produce(std::vector<int64_t> order) {
  int64_t n = batchesPerEpoch();
  for (int64_t k = 0; k < n; ++k) {
    int s = static_cast<int>(k % 2);
    {
      std::unique_lock<std::mutex> lock(mutex);
      // Slot s is free once the consumer has moved past batch k-2 (it clears
      // the flag when it asks for batch k-1).
      changed.wait(lock, [&] { return cancel || !ready[s]; });
      if (cancel)
        return;
    }
    fill(slots[s], order, k);
    {
      std::lock_guard<std::mutex> lock(mutex);
      ready[s] = true;
    }
    changed.notify_all();
  }
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    cancel = true;
  }
  changed.notify_all();
  if (loader.joinable())
    loader.join();
}

void Batcher::startEpoch(int64_t epoch) {
  stop();
  cancel = false;
  ready[0] = ready[1] = false;
  consumed = 0;
  loader = std::thread(&Batcher::produce, this, order(epoch));
}

const Batch *Batcher::next() {
  std::unique_lock<std::mutex> lock(mutex);
  int64_t k = consumed;
  if (k > 0)
    ready[(k - 1) % 2] = false; // the caller is done with batch k-1
  if (k >= batchesPerEpoch()) {
    changed.notify_all();
    return nullptr;
  }
  ++consumed;
  changed.notify_all();
  int s = static_cast<int>(k % 2);
  changed.wait(lock, [&] { return ready[s]; });
  return &slots[s];
}

} // namespace mtl::rt
