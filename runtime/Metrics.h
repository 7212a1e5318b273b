//===- Metrics.h - Per-task running loss and metrics ----------------------===//
//
// The pipelines return each task's loss as a mean over the batch's masked-in
// rows; the running loss weights every batch by that row count, so the mean
// over an epoch or a test set is exact even with a padded last batch.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_METRICS_H
#define MTL_RUNTIME_METRICS_H

#include "runtime/Descriptor.h"

#include <string>
#include <utility>
#include <vector>

namespace mtl::rt {

/// One batch of one task, as the pipeline saw it.
struct TaskBatch {
  int64_t batch = 0;
  const float *mask = nullptr;       // batch
  const float *prediction = nullptr; // batch x rowSize
  int64_t rowSize = 0;               // elements per prediction row
  const int32_t *classes = nullptr;  // classification targets, or null
  const float *values = nullptr;     // regression targets (batch x rowSize)

  /// Rows with a non-zero mask.
  int64_t rows() const;
};

class TaskMetrics {
public:
  explicit TaskMetrics(const TaskSpec &task) : task(&task) {}

  /// Adds one batch: `loss` is the pipeline's mean loss over masked-in rows.
  void add(double loss, const TaskBatch &b);
  void reset() { *this = TaskMetrics(*task); }

  int64_t rows() const { return lossRows; }
  double loss() const { return lossRows ? lossSum / lossRows : 0.0; }
  double accuracy() const { return accRows ? double(correct) / accRows : 0.0; }
  /// Share of rows whose class is among the k largest predictions.
  double topK(int k) const;
  double mse() const { return sqCount ? sqSum / sqCount : 0.0; }
  double mae() const { return sqCount ? absSum / sqCount : 0.0; }
  /// 10 log10(1 / mse): values are taken to lie in [0, 1] (peak 1).
  double psnr() const;
  /// Mean over rows of the intersection over union of the predicted and the
  /// target box (x0, y0, x1, y1; an inverted box has no area).
  double iou() const { return iouRows ? iouSum / iouRows : 0.0; }
  /// The value of one metric name (accuracy, top<k>, iou, mse, mae, psnr).
  double metric(const std::string &name) const;
  /// "loss" then the task's metrics, in descriptor order.
  std::vector<std::pair<std::string, double>> values() const;
  const TaskSpec &spec() const { return *task; }

private:
  const TaskSpec *task;
  double lossSum = 0.0;
  int64_t lossRows = 0;
  int64_t correct = 0, accRows = 0;
  double sqSum = 0.0, absSum = 0.0;
  int64_t sqCount = 0;
  std::vector<int64_t> topHits; // [k-1]: rows with the class in the top k
  double iouSum = 0.0;
  int64_t iouRows = 0;
};

/// Intersection over union of two boxes (x0, y0, x1, y1).
double boxIoU(const float *a, const float *b);

/// Index of the largest of n values (the first one on ties).
int64_t argmax(const float *values, int64_t n);

} // namespace mtl::rt

#endif // MTL_RUNTIME_METRICS_H
