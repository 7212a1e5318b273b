//===- Metrics.cpp - Per-task running loss and metrics -------------------===//

#include "runtime/Metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

double boxIoU(const float *a, const float *b) {
  auto area = [](const float *x) {
    return std::max(0.0, double(x[2]) - x[0]) *
           std::max(0.0, double(x[3]) - x[1]);
  };
  double iw = std::min(a[2], b[2]) - double(std::max(a[0], b[0]));
  double ih = std::min(a[3], b[3]) - double(std::max(a[1], b[1]));
  double inter = std::max(0.0, iw) * std::max(0.0, ih);
  double uni = area(a) + area(b) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

void TaskMetrics::add(double loss, const TaskBatch &b) {
  // A batch without labelled rows for this task says nothing (and its mean
  // loss may be 0/0).
  int64_t rows = b.rows();
  if (rows == 0)
    return;
  lossSum += loss * rows;
  lossRows += rows;
  int maxK = 0;
  bool wantIoU = false;
  for (const std::string &m : task->metrics) {
    maxK = std::max(maxK, mtl::rt::topK(m));
    wantIoU |= m == "iou";
  }
  if (static_cast<int>(topHits.size()) < maxK)
    topHits.resize(maxK, 0);
  const bool logits = task->predictsLogits();
  std::vector<float> row(b.rowSize);
  for (int64_t r = 0; b.prediction && r < b.batch; ++r) {
    if (b.mask[r] == 0.0f)
      continue;
    const float *pred = b.prediction + r * b.rowSize;
    if (b.classes) {
      int32_t cls = b.classes[r];
      correct += argmax(pred, b.rowSize) == cls;
      ++accRows;
      if (maxK > 0) {
        // The class's rank: how many predictions beat it (ties go to the
        // lower index, as argmax).
        int64_t rank = 0;
        for (int64_t i = 0; i < b.rowSize; ++i)
          rank += pred[i] > pred[cls] || (pred[i] == pred[cls] && i < cls);
        for (int64_t k = rank; k < maxK; ++k)
          ++topHits[k];
      }
    }
    if (b.values) {
      if (logits) {
        for (int64_t i = 0; i < b.rowSize; ++i)
          row[i] = 1.0f / (1.0f + std::exp(-pred[i]));
        pred = row.data();
      }
      const float *target = b.values + r * b.rowSize;
      for (int64_t i = 0; i < b.rowSize; ++i) {
        double d = double(pred[i]) - target[i];
        sqSum += d * d;
        absSum += std::abs(d);
      }
      sqCount += b.rowSize;
      if (wantIoU && b.rowSize == 4) {
        iouSum += boxIoU(pred, target);
        ++iouRows;
      }
    }
  }
}

double TaskMetrics::topK(int k) const {
  if (k <= 0 || !accRows)
    return 0.0;
  if (k > static_cast<int>(topHits.size()))
    return k == 1 ? accuracy() : 0.0;
  return double(topHits[k - 1]) / accRows;
}

double TaskMetrics::psnr() const {
  double m = mse();
  if (!sqCount)
    return 0.0;
  return m > 0 ? 10.0 * std::log10(1.0 / m)
               : std::numeric_limits<double>::infinity();
}

double TaskMetrics::metric(const std::string &m) const {
  if (m == "accuracy")
    return accuracy();
  if (int k = mtl::rt::topK(m))
    return topK(k);
  if (m == "iou")
    return iou();
  if (m == "mae")
    return mae();
  if (m == "psnr")
    return psnr();
  return mse();
}

std::vector<std::pair<std::string, double>> TaskMetrics::values() const {
  std::vector<std::pair<std::string, double>> out = {{"loss", loss()}};
  for (const std::string &m : task->metrics)
    out.emplace_back(m, metric(m));
  return out;
}

} // namespace mtl::rt
