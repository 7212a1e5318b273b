//===- Dataset.cpp - Train and test splits -------------------------------===//

#include "runtime/Dataset.h"
#include "runtime/Error.h"
#include "runtime/Idx.h"

namespace mtl::rt {

std::string joinPath(const std::string &dir, const std::string &file) {
  if (dir.empty() || (!file.empty() && file[0] == '/'))
    return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

int32_t mapLabel(const TaskSpec &task, int32_t label) {
  if (task.targetMap.empty())
    return label;
  return label < static_cast<int32_t>(task.targetMap.size())
             ? task.targetMap[label]
             : -1;
}

void checkLabels(const Split &split, const std::vector<TaskSpec> &tasks) {
  for (const TaskSpec &task : tasks) {
    if (task.target != "label")
      continue;
    for (int64_t i = 0; i < split.size; ++i) {
      int32_t label = split.labels[i];
      if (!task.targetMap.empty() &&
          label >= static_cast<int32_t>(task.targetMap.size()))
        fail("{}: sample {}: label {} has no entry in target_map of task '{}' "
             "(size {})",
             split.labelsPath, i, label, task.name, task.targetMap.size());
      int32_t cls = mapLabel(task, label);
      if (task.isClassification() && cls >= task.numClasses())
        fail("{}: sample {}: label {} is out of range for task '{}' with {} "
             "classes",
             split.labelsPath, i, cls, task.name, task.numClasses());
    }
  }
}

Split loadSplit(const Descriptor &desc, const std::string &dataDir, bool train,
                int64_t limit) {
  const DataSpec &data = desc.data;
  std::string dir = dataDir.empty() ? data.dir : dataDir;
  Split split;
  split.imagesPath = joinPath(dir, train ? data.trainImages : data.testImages);
  split.labelsPath = joinPath(dir, train ? data.trainLabels : data.testLabels);

  IdxArray images = readIdx(split.imagesPath, 3, limit);
  IdxArray labels = readIdx(split.labelsPath, 1, limit);
  split.size = images.dims[0];
  split.imageShape = {images.dims[1], images.dims[2], 1};
  if (split.imageShape != desc.inputShape)
    fail("{}: images are {}, but the model's input '{}' expects {}",
         split.imagesPath, toString(split.imageShape), desc.inputName,
         toString(desc.inputShape));
  if (labels.dims[0] != split.size)
    fail("{}: {} labels for {} images in {}", split.labelsPath, labels.dims[0],
         split.size, split.imagesPath);
  if (split.size == 0)
    fail("{}: no samples", split.imagesPath);

  // u8 -> [0, 1] once here rather than per batch.
  split.images.resize(images.data.size());
  for (size_t i = 0; i < images.data.size(); ++i)
    split.images[i] = images.data[i] / 255.0f;
  split.labels.assign(labels.data.begin(), labels.data.end());
  checkLabels(split, desc.tasks);
  return split;
}

} // namespace mtl::rt
