//===- Dataset.h - Train and test splits loaded from the descriptor -------===//
//
// A split holds every image as f32 in [0, 1] (NHWC, C = 1 for IDX) and its
// raw label. Labels are validated against every task once at load time, so
// the training loop never meets an out-of-range class.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_DATASET_H
#define MTL_RUNTIME_DATASET_H

#include "runtime/Descriptor.h"

#include <string>
#include <vector>

namespace mtl::rt {

struct Split {
  std::string imagesPath, labelsPath;
  int64_t size = 0;
  Shape imageShape;            // [H, W, C]
  std::vector<float> images;   // size x H x W x C
  std::vector<int32_t> labels; // size

  int64_t imageSize() const { return numElements(imageShape); }
  const float *image(int64_t i) const { return &images[i * imageSize()]; }
};

/// `dir`/`file`, or `file` itself when it is absolute.
std::string joinPath(const std::string &dir, const std::string &file);

/// Loads one split (`train` or test) from `dataDir` (the descriptor's dir when
/// empty). `limit` > 0 keeps the first `limit` samples. Checks the image shape
/// against the descriptor's input shape and the labels against every task.
Split loadSplit(const Descriptor &desc, const std::string &dataDir, bool train,
                int64_t limit);

/// Throws Error naming the labels file and sample when a label is out of
/// range for a task (after its target_map).
void checkLabels(const Split &split, const std::vector<TaskSpec> &tasks);

/// The class (or regression value) of `label` for `task`; -1 = unlabelled.
int32_t mapLabel(const TaskSpec &task, int32_t label);

} // namespace mtl::rt

#endif // MTL_RUNTIME_DATASET_H
