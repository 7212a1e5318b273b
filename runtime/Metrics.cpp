//===- Metrics.cpp - Per-task running loss and metrics -------------------===//

#include "runtime/Metrics.h"

#include <algorithm>

namespace mtl::rt {

int64_t argmax(const float *values, int64_t n) {
  return std::max_element(values, values + n) - values;
}

int64_t TaskBatch::rows() const {
  int64_t n = 0;
  for (int64_t r = 0; r < batch; ++r)
    n += mask[r] != 0.0f;
  return n;
}

void TaskMetrics::add(double loss, const TaskBatch &b) {
  // A batch without labelled rows for this task says nothing (and its mean
  // loss may be 0/0).
  int64_t rows = b.rows();
  if (rows == 0)
    return;
  lossSum += loss * rows;
  lossRows += rows;
  for (int64_t r = 0; b.prediction && r < b.batch; ++r) {
    if (b.mask[r] == 0.0f)
      continue;
    const float *pred = b.prediction + r * b.rowSize;
    if (b.classes) {
      correct += argmax(pred, b.rowSize) == b.classes[r];
      ++accRows;
    }
    if (b.values) {
      const float *target = b.values + r * b.rowSize;
      for (int64_t i = 0; i < b.rowSize; ++i) {
        double d = double(pred[i]) - target[i];
        sqSum += d * d;
      }
      sqCount += b.rowSize;
    }
  }
}

std::vector<std::pair<std::string, double>> TaskMetrics::values() const {
  std::vector<std::pair<std::string, double>> out = {{"loss", loss()}};
  for (const std::string &m : task->metrics)
    out.emplace_back(m, m == "accuracy" ? accuracy() : mse());
  return out;
}

} // namespace mtl::rt
