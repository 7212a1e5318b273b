//===- Batcher.cpp - Shuffled batches on a background thread -------------===//

#include "runtime/Batcher.h"
#include "runtime/Augment.h"
#include "runtime/Generated.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

namespace mtl::rt {

const Field *Batch::field(const std::string &name) const {
  for (const Field &f : fields)
    if (f.name == name)
      return &f;
  return nullptr;
}

int32_t Batch::label(int64_t r) const {
  const Field *f = field("label");
  return f && f->dtype == DType::I32 ? f->ints[r] : -1;
}

Batcher::Batcher(const Split &split, int64_t batch, Mode mode, uint64_t seed,
                 const AugmentSpec *augmentSpec)
    : split(split), batch(batch), mode(mode), seed(seed) {
  if (augmentSpec && mode == Mode::Train)
    augment = *augmentSpec;
  for (Batch &b : slots) {
    b.indices.resize(batch);
    b.images.resize(batch * split.imageSize());
    b.mask.resize(batch);
    for (const Field &f : split.fields) {
      Field g;
      g.name = f.name;
      g.dtype = f.dtype;
      g.shape = f.shape;
      if (f.dtype == DType::I32)
        g.ints.resize(batch * f.rowSize());
      else
        g.floats.resize(batch * f.rowSize());
      b.fields.push_back(std::move(g));
    }
    b.present.resize(split.present.size());
    for (size_t t = 0; t < split.present.size(); ++t)
      if (!split.present[t].empty())
        b.present[t].resize(batch);
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

void Batcher::fill(Batch &b, const std::vector<int64_t> &order, int64_t k,
                   int64_t epoch) const {
  const int64_t imageSize = split.imageSize();
  int64_t begin = k * batch;
  b.rows = std::min<int64_t>(batch, split.size - begin);
  for (int64_t r = 0; r < batch; ++r) {
    float *dst = &b.images[r * imageSize];
    if (r < b.rows) {
      int64_t i = order[begin + r];
      b.indices[r] = i;
      std::memcpy(dst, split.image(i), imageSize * sizeof(float));
      b.mask[r] = 1.0f;
    } else {
      b.indices[r] = -1;
      std::fill(dst, dst + imageSize, 0.0f);
      b.mask[r] = 0.0f;
    }
    int64_t i = b.indices[r];
    for (size_t f = 0; f < split.fields.size(); ++f) {
      const Field &src = split.fields[f];
      Field &out = b.fields[f];
      const int64_t n = src.rowSize();
      if (src.dtype == DType::I32) {
        int32_t *o = &out.ints[r * n];
        if (i >= 0)
          std::copy_n(&src.ints[i * n], n, o);
        else
          std::fill(o, o + n, -1);
      } else {
        float *o = &out.floats[r * n];
        if (i >= 0)
          std::copy_n(&src.floats[i * n], n, o);
        else
          std::fill(o, o + n, 0.0f);
      }
    }
    for (size_t t = 0; t < split.present.size(); ++t)
      if (!split.present[t].empty())
        b.present[t][r] = i >= 0 ? split.present[t][i] : 0;
    if (i >= 0 && augment.any()) {
      AugmentTargets targets;
      for (Field &f : b.fields) {
        if (f.dtype != DType::F32)
          continue;
        if (f.name == "box" && f.rowSize() == 4)
          targets.box = &f.floats[r * 4];
        if (f.name == "item") {
          targets.item = &f.floats[r * f.rowSize()];
          targets.itemShape = f.shape;
        }
      }
      uint64_t s = splitmix64(splitmix64(seed ^ 0x617567ull) +
                              static_cast<uint64_t>(epoch)) +
                   static_cast<uint64_t>(begin + r);
      augmentImage(augment, dst, split.imageShape, targets, s);
    }
  }
}

void Batcher::produce(std::vector<int64_t> order, int64_t epoch) {
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
    fill(slots[s], order, k, epoch);
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
  loader = std::thread(&Batcher::produce, this, order(epoch), epoch);
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
