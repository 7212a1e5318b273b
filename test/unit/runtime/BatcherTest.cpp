//===- BatcherTest.cpp - Shuffling, determinism, padding -----------------===//

#include "runtime/Batcher.h"

#include <gtest/gtest.h>

#include <set>

using namespace mtl::rt;

namespace {

Split makeSplit(int n) {
  Split s;
  s.size = n;
  s.imageShape = {1, 2, 1};
  Field label;
  label.name = "label";
  for (int i = 0; i < n; ++i) {
    s.images.push_back(float(i));
    s.images.push_back(float(i) + 0.5f);
    label.ints.push_back(i % 3);
  }
  s.fields.push_back(label);
  return s;
}

std::vector<int64_t> epochIndices(Batcher &b, int64_t epoch) {
  std::vector<int64_t> out;
  b.startEpoch(epoch);
  while (const Batch *batch = b.next())
    for (int64_t r = 0; r < batch->rows; ++r)
      out.push_back(batch->indices[r]);
  return out;
}

} // namespace

TEST(Batcher, TrainDropsPartialBatchAndCoversEachSampleOnce) {
  Split s = makeSplit(10);
  Batcher b(s, 3, Batcher::Mode::Train, 42);
  EXPECT_EQ(b.batchesPerEpoch(), 3);
  std::vector<int64_t> idx = epochIndices(b, 0);
  EXPECT_EQ(idx.size(), 9u);
  EXPECT_EQ(std::set<int64_t>(idx.begin(), idx.end()).size(), 9u);
}

TEST(Batcher, DeterministicPerSeedAndReshuffledPerEpoch) {
  Split s = makeSplit(50);
  Batcher a(s, 5, Batcher::Mode::Train, 1), b(s, 5, Batcher::Mode::Train, 1),
      c(s, 5, Batcher::Mode::Train, 2);
  std::vector<int64_t> a0 = epochIndices(a, 0), a1 = epochIndices(a, 1);
  EXPECT_EQ(a0, epochIndices(b, 0));
  EXPECT_EQ(a1, epochIndices(b, 1));
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, epochIndices(c, 0));
  std::vector<int64_t> sorted(50);
  for (int i = 0; i < 50; ++i)
    sorted[i] = i;
  EXPECT_NE(a0, sorted);
}

TEST(Batcher, BatchContentsMatchSamples) {
  Split s = makeSplit(12);
  Batcher b(s, 4, Batcher::Mode::Train, 9);
  b.startEpoch(3);
  while (const Batch *batch = b.next()) {
    for (int64_t r = 0; r < 4; ++r) {
      int64_t i = batch->indices[r];
      EXPECT_EQ(batch->images[2 * r], float(i));
      EXPECT_EQ(batch->images[2 * r + 1], float(i) + 0.5f);
      EXPECT_EQ(batch->label(r), i % 3);
      EXPECT_EQ(batch->mask[r], 1.0f);
    }
  }
}

TEST(Batcher, EvalPadsLastBatchWithMaskZero) {
  Split s = makeSplit(10);
  Batcher b(s, 4, Batcher::Mode::Eval, 0);
  EXPECT_EQ(b.batchesPerEpoch(), 3);
  b.startEpoch(0);
  std::vector<int64_t> seen;
  const Batch *last = nullptr;
  while (const Batch *batch = b.next()) {
    for (int64_t r = 0; r < batch->rows; ++r)
      seen.push_back(batch->indices[r]);
    last = batch;
    if (batch->rows < 4)
      break;
  }
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->rows, 2);
  EXPECT_EQ(last->mask, (std::vector<float>{1, 1, 0, 0}));
  EXPECT_EQ(last->indices[2], -1);
  EXPECT_EQ(last->images[5], 0.0f);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(b.next(), nullptr);
}

TEST(Batcher, AbandonedEpochRestartsCleanly) {
  Split s = makeSplit(40);
  Batcher b(s, 4, Batcher::Mode::Train, 5);
  b.startEpoch(0);
  b.next(); // leave the loader mid-epoch
  std::vector<int64_t> again = epochIndices(b, 0);
  Batcher fresh(s, 4, Batcher::Mode::Train, 5);
  EXPECT_EQ(again, epochIndices(fresh, 0));
}
