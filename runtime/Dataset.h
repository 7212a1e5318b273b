//===- Dataset.h - Train, validation and test splits ---------------------===//
//
// A split holds every input as f32 (NHWC images in [0, 1] for IDX data) and
// the fields of its data source other than the input: class ids (i32, -1 =
// missing) and float tensors (f32, NaN = missing). Sources: IDX, NPY and CSV
// files, and datasets generated once at load time from Fashion-MNIST
// (fashion-detect, multi-fashion, sequential; Generated.h). Fields are
// validated against every task once at load time, so the training loop never
// meets an out-of-range class.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_DATASET_H
#define MTL_RUNTIME_DATASET_H

#include "runtime/Descriptor.h"

#include <string>
#include <vector>

namespace mtl::rt {

/// One field's values for every sample of a split (or every row of a batch).
struct Field {
  std::string name;
  DType dtype = DType::I32;
  Shape shape;               // per sample
  std::vector<int32_t> ints; // i32: size x rowSize, -1 = missing
  std::vector<float> floats; // f32: size x rowSize, NaN = missing

  int64_t rowSize() const { return numElements(shape); }
};

struct Split {
  std::string imagesPath, labelsPath; // where inputs and labels come from
  int64_t size = 0;
  Shape imageShape;          // per sample, the model's input shape
  std::vector<float> images; // size x prod(imageShape)
  std::vector<Field> fields; // every field but the input (`image`)
  /// Per task (descriptor order), 1 where the sample keeps that task's label
  /// (label_fraction); empty = every sample does.
  std::vector<std::vector<uint8_t>> present;

  int64_t imageSize() const { return numElements(imageShape); }
  const float *image(int64_t i) const { return &images[i * imageSize()]; }
  const Field *field(const std::string &name) const;
  Field *field(const std::string &name);
  /// The sample's `label` field, -1 when missing or absent.
  int32_t label(int64_t i) const;
};

/// `dir`/`file`, or `file` itself when it is absolute.
std::string joinPath(const std::string &dir, const std::string &file);

/// Loads one whole split (`train` or test) from `dataDir` (the descriptor's
/// dir when empty). `limit` > 0 keeps the first `limit` samples (of the base
/// Fashion-MNIST file, for generated sources). Checks the input shape
/// against the descriptor and the fields against every task.
Split loadSplit(const Descriptor &desc, const std::string &dataDir, bool train,
                int64_t limit);

struct TrainingData {
  Split train;      // with the tasks' label_fraction applied
  Split validation; // empty (size 0) when data.validation is 0
};

/// The training file split into train and validation (data.validation; a
/// fixed seeded choice of samples), with label_fraction applied to the
/// training part only.
TrainingData loadTraining(const Descriptor &desc, const std::string &dataDir,
                          int64_t limit);

/// The samples `indices` of `split`, in that order.
Split subset(const Split &split, const std::vector<int64_t> &indices);

/// Marks, per task with label_fraction < 1, a seeded share of the samples as
/// labelled (Split::present). Sample i's mark depends only on (seed, task
/// name, i).
void applyLabelFractions(Split &split, const std::vector<TaskSpec> &tasks,
                         uint64_t seed);

/// Throws Error naming the labels file and sample when a label is out of
/// range for a task (after its target_map), or a float field does not fit
/// the task's prediction.
void checkLabels(const Split &split, const std::vector<TaskSpec> &tasks);

/// The class (or regression value) of `label` for `task`; -1 = unlabelled.
int32_t mapLabel(const TaskSpec &task, int32_t label);

/// The 4 coarse Fashion-MNIST groups: tops {0,2,4,6} -> 0, bottoms/dresses
/// {1,3} -> 1, footwear {5,7,9} -> 2, bags {8} -> 3.
int32_t fashionGroup(int32_t label);

/// A uniform double in [0, 1) that depends only on its arguments.
double hashUniform(uint64_t seed, uint64_t a, uint64_t b);

} // namespace mtl::rt

#endif // MTL_RUNTIME_DATASET_H
