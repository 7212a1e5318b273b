//===- LrScheduleTest.cpp - [train] lr_schedule and warm-up --------------===//
#include "runtime/LrSchedule.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;

TEST(LrSchedule, ConstantIsTheBaseRate) {
  TrainSpec t;
  for (int64_t s : {0, 5, 99})
    EXPECT_DOUBLE_EQ(learningRate(t, 0.01, s, 100, 10), 0.01);
}

TEST(LrSchedule, CosineGoesFromLrToMinLr) {
  TrainSpec t;
  t.lrSchedule = "cosine";
  t.minLr = 1e-4;
  const int64_t total = 101;
  EXPECT_DOUBLE_EQ(learningRate(t, 1e-2, 0, total, 10), 1e-2);
  EXPECT_NEAR(learningRate(t, 1e-2, 50, total, 10), (1e-2 + 1e-4) / 2, 1e-12);
  EXPECT_NEAR(learningRate(t, 1e-2, 100, total, 10), 1e-4, 1e-12);
  // A quarter of the way: min + (lr - min) (1 + cos(pi/4)) / 2.
  EXPECT_NEAR(learningRate(t, 1e-2, 25, total, 10),
              1e-4 + (1e-2 - 1e-4) * (1 + std::sqrt(0.5)) / 2, 1e-12);
  double prev = 1;
  for (int64_t s = 0; s < total; ++s) {
    double r = learningRate(t, 1e-2, s, total, 10);
    EXPECT_LE(r, prev);
    prev = r;
  }
}

TEST(LrSchedule, StepDecaysEveryStepEpochs) {
  TrainSpec t;
  t.lrSchedule = "step";
  t.stepEpochs = 2;
  t.gamma = 0.5;
  const int64_t perEpoch = 10;
  EXPECT_DOUBLE_EQ(learningRate(t, 1.0, 0, 100, perEpoch), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(t, 1.0, 19, 100, perEpoch), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(t, 1.0, 20, 100, perEpoch), 0.5);
  EXPECT_DOUBLE_EQ(learningRate(t, 1.0, 45, 100, perEpoch), 0.25);
}

TEST(LrSchedule, WarmupMultipliesTheSchedule) {
  TrainSpec t;
  t.lrSchedule = "cosine";
  t.warmup = 4;
  const int64_t total = 1001;
  EXPECT_NEAR(learningRate(t, 1.0, 0, total, 10), 0.25, 1e-5);
  EXPECT_NEAR(learningRate(t, 1.0, 1, total, 10), 0.5, 1e-5);
  EXPECT_NEAR(learningRate(t, 1.0, 3, total, 10), 1.0, 1e-4);
  EXPECT_NEAR(learningRate(t, 1.0, 500, total, 10), 0.5, 1e-12);
}
