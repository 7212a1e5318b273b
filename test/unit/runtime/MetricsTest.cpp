//===- MetricsTest.cpp - Running loss, accuracy and MSE ------------------===//

#include "runtime/Metrics.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;

TEST(Metrics, AccuracySkipsMaskedRows) {
  TaskSpec task;
  task.name = "label";
  task.loss = "softmax_cross_entropy";
  task.metrics = {"accuracy"};
  task.predictionShape = {3};
  TaskMetrics m(task);
  float pred[4 * 3] = {0.1f, 0.8f, 0.1f,  // -> 1, right
                       0.7f, 0.2f, 0.1f,  // -> 0, wrong
                       0.1f, 0.2f, 0.9f,  // -> 2, right
                       0.9f, 0.0f, 0.0f}; // masked out (would be wrong)
  int32_t classes[4] = {1, 2, 2, 1};
  float mask[4] = {1, 1, 1, 0};
  TaskBatch b{4, mask, pred, 3, classes, nullptr};
  m.add(0.6, b);
  EXPECT_EQ(m.rows(), 3);
  EXPECT_NEAR(m.accuracy(), 2.0 / 3, 1e-12);
  // A second batch with a different number of real rows: the loss mean is
  // weighted by rows, not by batches.
  float mask2[4] = {1, 0, 0, 0};
  TaskBatch b2{4, mask2, pred, 3, classes, nullptr};
  m.add(0.2, b2);
  EXPECT_NEAR(m.loss(), (0.6 * 3 + 0.2 * 1) / 4, 1e-12);
  EXPECT_NEAR(m.accuracy(), 3.0 / 4, 1e-12);
  auto values = m.values();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].first, "loss");
  EXPECT_EQ(values[1].first, "accuracy");
}

TEST(Metrics, MeanSquaredError) {
  TaskSpec task;
  task.name = "recon";
  task.loss = "mse";
  task.metrics = {"mse"};
  task.predictionShape = {2};
  TaskMetrics m(task);
  float pred[3 * 2] = {1, 2, 3, 4, 5, 6};
  float target[3 * 2] = {1, 0, 3, 5, 100, 100};
  float mask[3] = {1, 1, 0};
  m.add(1.0, TaskBatch{3, mask, pred, 2, nullptr, target});
  EXPECT_NEAR(m.mse(), (0 + 4 + 0 + 1) / 4.0, 1e-12);
  EXPECT_EQ(argmax(pred, 6), 5);
}

TEST(Metrics, BatchWithoutLabelledRowsIsIgnored) {
  TaskSpec task;
  task.name = "t";
  task.loss = "softmax_cross_entropy";
  task.predictionShape = {2};
  TaskMetrics m(task);
  float pred[2 * 2] = {0, 1, 1, 0};
  int32_t classes[2] = {1, 0};
  float none[2] = {0, 0}, all[2] = {1, 1};
  m.add(std::nan(""), TaskBatch{2, none, pred, 2, classes, nullptr});
  m.add(0.5, TaskBatch{2, all, pred, 2, classes, nullptr});
  EXPECT_EQ(m.rows(), 2);
  EXPECT_DOUBLE_EQ(m.loss(), 0.5);
  EXPECT_DOUBLE_EQ(m.accuracy(), 1.0);
}

TEST(Metrics, TopKByHand) {
  TaskSpec task;
  task.name = "label";
  task.loss = "softmax_cross_entropy";
  task.metrics = {"accuracy", "top2", "top3"};
  task.predictionShape = {4};
  TaskMetrics m(task);
  float pred[3 * 4] = {0.1f, 0.5f, 0.3f, 0.1f,  // class 2: rank 1
                       0.4f, 0.3f, 0.2f, 0.1f,  // class 3: rank 3
                       0.0f, 0.0f, 1.0f, 0.0f}; // class 1: 2 beat it (tie
                                                // goes to the lower index)
  int32_t classes[3] = {2, 3, 1};
  float mask[3] = {1, 1, 1};
  m.add(0.0, TaskBatch{3, mask, pred, 4, classes, nullptr});
  EXPECT_DOUBLE_EQ(m.accuracy(), 0.0);
  EXPECT_DOUBLE_EQ(m.topK(2), 1.0 / 3); // row 0
  EXPECT_DOUBLE_EQ(m.topK(3), 2.0 / 3); // rows 0 and 2
  EXPECT_DOUBLE_EQ(m.topK(1), 0.0);
  auto v = m.values();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[2].first, "top2");
  EXPECT_DOUBLE_EQ(v[2].second, 1.0 / 3);
  EXPECT_EQ(topK("top5"), 5);
  EXPECT_EQ(topK("top"), 0);
  EXPECT_EQ(topK("top0"), 0);
  EXPECT_EQ(topK("topx"), 0);
}

TEST(Metrics, IoUMaeAndPsnrByHand) {
  EXPECT_DOUBLE_EQ(
      boxIoU((const float[]){0, 0, 2, 2}, (const float[]){1, 1, 3, 3}),
      1.0 / 7);
  EXPECT_DOUBLE_EQ(
      boxIoU((const float[]){0, 0, 1, 1}, (const float[]){2, 2, 3, 3}), 0.0);
  EXPECT_DOUBLE_EQ(boxIoU((const float[]){0.5f, 0, 0, 1}, // inverted
                          (const float[]){0, 0, 1, 1}),
                   0.0);
  TaskSpec task;
  task.name = "box";
  task.loss = "mse";
  task.metrics = {"iou", "mse", "mae", "psnr"};
  task.predictionShape = {4};
  TaskMetrics m(task);
  float pred[2 * 4] = {0, 0, 0.5f, 0.5f, 0, 0, 1, 1};
  float target[2 * 4] = {0, 0, 0.5f, 0.25f, 0, 0, 1, 1};
  float mask[2] = {1, 1};
  m.add(0.0, TaskBatch{2, mask, pred, 4, nullptr, target});
  EXPECT_DOUBLE_EQ(m.iou(), (0.5 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(m.mse(), 0.0625 / 8);
  EXPECT_DOUBLE_EQ(m.mae(), 0.25 / 8);
  EXPECT_NEAR(m.psnr(), 10 * std::log10(8 / 0.0625), 1e-9);
  EXPECT_DOUBLE_EQ(m.metric("iou"), m.iou());
}

TEST(Metrics, SigmoidLossesComparePredictionsAfterTheSigmoid) {
  TaskSpec task;
  task.name = "recon";
  task.loss = "sigmoid_cross_entropy";
  task.metrics = {"mse"};
  task.predictionShape = {2};
  TaskMetrics m(task);
  float logits[2] = {0.0f, 100.0f}; // -> 0.5, 1.0
  float target[2] = {0.0f, 1.0f};
  float mask[1] = {1};
  m.add(0.0, TaskBatch{1, mask, logits, 2, nullptr, target});
  EXPECT_NEAR(m.mse(), 0.25 / 2, 1e-7);
}
