//===- AugmentTest.cpp - Augmentation steps, boxes, train-only -----------===//

#include "runtime/Augment.h"
#include "runtime/Batcher.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;

namespace {

// A 3x4 single-channel image with value 10 * row + col.
std::vector<float> tiny() {
  std::vector<float> v;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      v.push_back(10.0f * r + c);
  return v;
}

} // namespace

TEST(Augment, FlipMirrorsColumnsAndBox) {
  std::vector<float> v = tiny();
  flipImage(v.data(), 3, 4, 1);
  EXPECT_EQ(v,
            (std::vector<float>{3, 2, 1, 0, 13, 12, 11, 10, 23, 22, 21, 20}));
  float box[4] = {0.25f, 0.0f, 0.5f, 1.0f}; // column 1
  flipBox(box);
  EXPECT_FLOAT_EQ(box[0], 0.5f); // column 2 after the flip
  EXPECT_FLOAT_EQ(box[2], 0.75f);
  EXPECT_FLOAT_EQ(box[1], 0.0f);
}

TEST(Augment, ShiftMovesContentZeroFillsAndMovesBox) {
  std::vector<float> v = tiny();
  shiftImage(v.data(), 3, 4, 1, 1, -1); // right 1, up 1
  EXPECT_EQ(v, (std::vector<float>{0, 10, 11, 12, 0, 20, 21, 22, 0, 0, 0, 0}));
  float box[4] = {0.0f, 1 / 3.0f, 0.5f, 1.0f};
  shiftBox(box, 3, 4, 1, -1);
  EXPECT_FLOAT_EQ(box[0], 0.25f);
  EXPECT_FLOAT_EQ(box[1], 0.0f);
  EXPECT_FLOAT_EQ(box[2], 0.75f);
  EXPECT_FLOAT_EQ(box[3], 2 / 3.0f);
  // Clipped at the border.
  float edge[4] = {0.5f, 0.5f, 1.0f, 1.0f};
  shiftBox(edge, 4, 4, 2, 0);
  EXPECT_FLOAT_EQ(edge[0], 1.0f);
  EXPECT_FLOAT_EQ(edge[2], 1.0f);
}

TEST(Augment, RotationBy90DegreesAndItsBox) {
  // 4x4 with one bright pixel at (row 0, col 3): a quarter turn
  // counter-clockwise (as seen, y down) moves it to (row 0, col 0).
  std::vector<float> v(16, 0.0f);
  v[3] = 1.0f;
  rotateImage(v.data(), 4, 4, 1, 90.0);
  EXPECT_NEAR(v[0], 1.0f, 1e-5);
  float sum = 0;
  for (float x : v)
    sum += x;
  EXPECT_NEAR(sum, 1.0f, 1e-5);
  float box[4] = {0.75f, 0.0f, 1.0f, 0.25f};
  rotateBox(box, 4, 4, 90.0);
  EXPECT_NEAR(box[0], 0.0f, 1e-5);
  EXPECT_NEAR(box[1], 0.0f, 1e-5);
  EXPECT_NEAR(box[2], 0.25f, 1e-5);
  EXPECT_NEAR(box[3], 0.25f, 1e-5);
  std::vector<float> same = tiny(), orig = tiny();
  rotateImage(same.data(), 3, 4, 1, 0.0);
  EXPECT_EQ(same, orig);
}

TEST(Augment, DrawsAreSeededAndNoiseHasTheRightScale) {
  AugmentSpec spec;
  spec.noise = 0.1;
  std::vector<float> a(4000, 0.5f), b = a, c = a;
  augmentImage(spec, a.data(), {40, 100}, {}, 7);
  augmentImage(spec, b.data(), {40, 100}, {}, 7);
  augmentImage(spec, c.data(), {40, 100}, {}, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double mean = 0, sq = 0;
  for (float x : a)
    mean += x - 0.5, sq += (x - 0.5) * (x - 0.5);
  mean /= a.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / a.size()), 0.1, 0.01);
}

TEST(Augment, BoxFollowsTheImageOnRandomDraws) {
  // A filled rectangle on a 20x20 canvas: after flip + shift, the box of the
  // non-zero pixels is the transformed box.
  AugmentSpec spec;
  spec.flip = true;
  spec.shift = 3;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> img(400, 0.0f);
    for (int r = 5; r < 9; ++r)
      for (int c = 4; c < 11; ++c)
        img[r * 20 + c] = 1.0f;
    float box[4] = {4 / 20.0f, 5 / 20.0f, 11 / 20.0f, 9 / 20.0f};
    augmentImage(spec, img.data(), {20, 20, 1}, {box}, seed);
    int r0 = 20, r1 = -1, c0 = 20, c1 = -1;
    for (int r = 0; r < 20; ++r)
      for (int c = 0; c < 20; ++c)
        if (img[r * 20 + c] > 0)
          r0 = std::min(r0, r), r1 = std::max(r1, r), c0 = std::min(c0, c),
          c1 = std::max(c1, c);
    EXPECT_FLOAT_EQ(box[0], c0 / 20.0f) << seed;
    EXPECT_FLOAT_EQ(box[1], r0 / 20.0f) << seed;
    EXPECT_FLOAT_EQ(box[2], (c1 + 1) / 20.0f) << seed;
    EXPECT_FLOAT_EQ(box[3], (r1 + 1) / 20.0f) << seed;
  }
}

TEST(Augment, ItemTargetFollowsFlipNotShift) {
  // The same 3x4 pattern as the canvas's content and as the item target: a
  // flip mirrors both; a shift moves the canvas only (the item target is
  // position-free).
  AugmentSpec spec;
  spec.flip = true;
  spec.shift = 2;
  int flipped = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    std::vector<float> img(8 * 8, 0.0f), item = tiny(), orig = tiny();
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c)
        img[(r + 2) * 8 + c + 2] = orig[r * 4 + c];
    AugmentTargets targets;
    targets.item = item.data();
    targets.itemShape = {3, 4, 1};
    augmentImage(spec, img.data(), {8, 8, 1}, targets, seed);
    std::vector<float> mirrored = orig;
    flipImage(mirrored.data(), 3, 4, 1);
    ASSERT_TRUE(item == orig || item == mirrored) << seed;
    bool isFlipped = item == mirrored;
    flipped += isFlipped;
    // The canvas holds the item target's pattern (mirrored with it),
    // wherever the shift moved it.
    std::vector<float> nonzero;
    for (float v : img)
      if (v != 0.0f)
        nonzero.push_back(v);
    std::vector<float> expect;
    for (float v : item)
      if (v != 0.0f)
        expect.push_back(v);
    EXPECT_EQ(nonzero, expect) << seed;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
}

TEST(Augment, OnlyTrainingBatchesAreAugmented) {
  Split s;
  s.size = 8;
  s.imageShape = {2, 2, 1};
  for (int i = 0; i < 32; ++i)
    s.images.push_back(float(i));
  AugmentSpec spec;
  spec.noise = 0.5;
  spec.flip = true;
  Batcher eval(s, 4, Batcher::Mode::Eval, 1, &spec);
  eval.startEpoch(0);
  while (const Batch *b = eval.next())
    for (int64_t r = 0; r < b->rows; ++r)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(b->images[r * 4 + k], s.image(b->indices[r])[k]);

  Batcher train(s, 4, Batcher::Mode::Train, 1, &spec);
  auto collect = [&](int64_t epoch) {
    std::vector<float> out;
    train.startEpoch(epoch);
    while (const Batch *b = train.next())
      out.insert(out.end(), b->images.begin(), b->images.end());
    return out;
  };
  std::vector<float> e0 = collect(0), again = collect(0), e1 = collect(1);
  EXPECT_EQ(e0, again); // deterministic for (seed, epoch)
  EXPECT_NE(e0, e1);
  Batcher plain(s, 4, Batcher::Mode::Train, 1, nullptr);
  plain.startEpoch(0);
  const Batch *b = plain.next();
  for (int k = 0; k < 4; ++k)
    EXPECT_EQ(b->images[k], s.image(b->indices[0])[k]);
}
