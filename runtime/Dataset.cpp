//===- Dataset.cpp - Train, validation and test splits -------------------===//

#include "runtime/Dataset.h"
#include "runtime/Csv.h"
#include "runtime/Error.h"
#include "runtime/Generated.h"
#include "runtime/Idx.h"
#include "runtime/Npy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mtl::rt {

const Field *Split::field(const std::string &name) const {
  for (const Field &f : fields)
    if (f.name == name)
      return &f;
  return nullptr;
}

Field *Split::field(const std::string &name) {
  for (Field &f : fields)
    if (f.name == name)
      return &f;
  return nullptr;
}

int32_t Split::label(int64_t i) const {
  const Field *f = field("label");
  return f && f->dtype == DType::I32 ? f->ints[i] : -1;
}

std::string joinPath(const std::string &dir, const std::string &file) {
  if (dir.empty() || (!file.empty() && file[0] == '/'))
    return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

int32_t mapLabel(const TaskSpec &task, int32_t label) {
  if (label < 0 || task.targetMap.empty())
    return label;
  return label < static_cast<int32_t>(task.targetMap.size())
             ? task.targetMap[label]
             : -1;
}

int32_t fashionGroup(int32_t label) {
  static const int32_t groups[10] = {0, 1, 0, 1, 0, 2, 0, 2, 3, 2};
  return label >= 0 && label < 10 ? groups[label] : -1;
}

double hashUniform(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
  return (h >> 11) * (1.0 / 9007199254740992.0);
}

void checkLabels(const Split &split, const std::vector<TaskSpec> &tasks) {
  for (const TaskSpec &task : tasks) {
    if (task.target == "image" || task.target.empty())
      continue;
    const Field *f = split.field(task.target);
    if (!f)
      fail("{}: the data has no field '{}' (task '{}')", split.labelsPath,
           task.target, task.name);
    if (f->dtype == DType::F32) {
      if (f->rowSize() != numElements(task.predictionShape))
        fail("{}: field '{}' has {} values per sample, but task '{}' "
             "predicts {}",
             split.labelsPath, f->name, f->rowSize(), task.name,
             toString(task.predictionShape));
      continue;
    }
    for (int64_t i = 0; i < split.size; ++i) {
      int32_t label = f->ints[i];
      if (label < 0)
        continue; // missing
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

namespace {

// [28, 28] and [28, 28, 1] hold the same data.
Shape squeezeTrailing(Shape s) {
  while (s.size() > 1 && s.back() == 1)
    s.pop_back();
  return s;
}

void checkInputShape(const Shape &sample, const Descriptor &desc,
                     const std::string &path) {
  // A flat feature input [F] reads each image row-major (28x28 -> 784).
  bool flat =
      desc.inputShape.size() == 1 && numElements(sample) == desc.inputShape[0];
  if (!flat && squeezeTrailing(sample) != squeezeTrailing(desc.inputShape))
    fail("{}: images are {}, but the model's input '{}' expects {}", path,
         toString(sample), desc.inputName, toString(desc.inputShape));
}

Field labelField(std::vector<int32_t> labels) {
  Field f;
  f.name = "label";
  f.dtype = DType::I32;
  f.ints = std::move(labels);
  return f;
}

BaseImages readBase(const std::string &imagesPath,
                    const std::string &labelsPath, int64_t limit) {
  IdxArray images = readIdx(imagesPath, 3, limit);
  IdxArray labels = readIdx(labelsPath, 1, limit);
  if (labels.dims[0] != images.dims[0])
    fail("{}: {} labels for {} images in {}", labelsPath, labels.dims[0],
         images.dims[0], imagesPath);
  BaseImages b;
  b.size = images.dims[0];
  b.height = images.dims[1];
  b.width = images.dims[2];
  b.pixels = std::move(images.data);
  b.labels.assign(labels.data.begin(), labels.data.end());
  return b;
}

void loadIdx(Split &split, const Descriptor &desc, int64_t limit) {
  BaseImages b = readBase(split.imagesPath, split.labelsPath, limit);
  split.size = b.size;
  checkInputShape({b.height, b.width, 1}, desc, split.imagesPath);
  // u8 -> [0, 1] once here rather than per batch.
  split.images.resize(b.pixels.size());
  for (size_t i = 0; i < b.pixels.size(); ++i)
    split.images[i] = b.pixels[i] / 255.0f;
  split.fields.push_back(labelField(std::move(b.labels)));
}

void loadNpy(Split &split, const Descriptor &desc, int64_t limit) {
  NpyArray images = readNpy(split.imagesPath, limit);
  NpyArray labels = readNpy(split.labelsPath, limit);
  if (images.shape.size() < 2)
    fail("{}: images must have a sample dimension and at least one more, "
         "got shape {}",
         split.imagesPath, toString(images.shape));
  split.size = images.shape[0];
  checkInputShape(Shape(images.shape.begin() + 1, images.shape.end()), desc,
                  split.imagesPath);
  if (labels.shape[0] != split.size ||
      squeezeTrailing(labels.shape) != Shape{split.size})
    fail("{}: labels have shape {}, expected [{}] for the {} images of {}",
         split.labelsPath, toString(labels.shape), split.size, split.size,
         split.imagesPath);
  double scale = desc.data.scale > 0                 ? desc.data.scale
                 : images.type == NpyArray::Type::U8 ? 1.0 / 255.0
                                                     : 1.0;
  split.images.resize(images.size());
  for (int64_t i = 0; i < images.size(); ++i)
    split.images[i] = static_cast<float>(images.at(i) * scale);
  std::vector<int32_t> ids(split.size);
  for (int64_t i = 0; i < split.size; ++i) {
    double v = labels.at(i);
    if (std::isnan(v) || v < 0) {
      ids[i] = -1; // missing
      continue;
    }
    if (v != std::floor(v) || v > 2147483647.0)
      fail("{}: label {} (element {}, byte offset {} of the data) is not a "
           "class id (a non-negative integer; -1 or NaN for a missing label)",
           split.labelsPath, v, i,
           i * static_cast<int64_t>(labels.bytes.size() /
                                    std::max<int64_t>(1, labels.size())));
    ids[i] = static_cast<int32_t>(v);
  }
  split.fields.push_back(labelField(std::move(ids)));
}

void loadCsv(Split &split, const Descriptor &desc, int64_t limit) {
  CsvTable t = readCsv(split.imagesPath, desc.data.labelColumn, limit);
  split.size = t.rows;
  if (t.features != numElements(desc.inputShape))
    fail("{}: {} feature columns per sample, but the model's input '{}' {} "
         "has {} values",
         split.imagesPath, t.features, desc.inputName,
         toString(desc.inputShape), numElements(desc.inputShape));
  double scale = desc.data.scale > 0 ? desc.data.scale : 1.0;
  split.images = std::move(t.values);
  if (scale != 1.0)
    for (float &v : split.images)
      v = static_cast<float>(v * scale);
  split.fields.push_back(labelField(std::move(t.labels)));
}

} // namespace

Split loadSplit(const Descriptor &desc, const std::string &dataDir, bool train,
                int64_t limit) {
  const DataSpec &data = desc.data;
  std::string dir = dataDir.empty() ? data.dir : dataDir;
  Split split;
  if (data.source == "csv") {
    split.imagesPath = joinPath(dir, train ? data.trainFile : data.testFile);
    split.labelsPath = split.imagesPath;
  } else {
    split.imagesPath =
        joinPath(dir, train ? data.trainImages : data.testImages);
    split.labelsPath =
        joinPath(dir, train ? data.trainLabels : data.testLabels);
  }

  if (data.source == "idx") {
    loadIdx(split, desc, limit);
  } else if (data.source == "npy") {
    loadNpy(split, desc, limit);
  } else if (data.source == "csv") {
    loadCsv(split, desc, limit);
  } else if (data.generated()) {
    BaseImages base = readBase(split.imagesPath, split.labelsPath, limit);
    uint64_t stream = train ? 0 : 1;
    Split gen = data.source == "fashion-detect"
                    ? makeFashionDetect(base, data.seed, stream)
                : data.source == "multi-fashion"
                    ? makeMultiFashion(base, data.seed, stream)
                    : makeSequential(base);
    gen.imagesPath = split.imagesPath;
    gen.labelsPath = split.labelsPath;
    split = std::move(gen);
    checkInputShape(split.imageShape, desc, split.imagesPath);
  } else {
    fail("data source '{}' is not supported", data.source);
  }
  split.imageShape = desc.inputShape;
  if (split.size == 0)
    fail("{}: no samples", split.imagesPath);
  checkLabels(split, desc.tasks);
  return split;
}

Split subset(const Split &s, const std::vector<int64_t> &indices) {
  Split out;
  out.imagesPath = s.imagesPath;
  out.labelsPath = s.labelsPath;
  out.size = static_cast<int64_t>(indices.size());
  out.imageShape = s.imageShape;
  const int64_t is = s.imageSize();
  out.images.resize(out.size * is);
  for (int64_t k = 0; k < out.size; ++k)
    std::copy_n(s.image(indices[k]), is, &out.images[k * is]);
  for (const Field &f : s.fields) {
    Field g = f;
    const int64_t rs = f.rowSize();
    if (f.dtype == DType::I32) {
      g.ints.resize(out.size * rs);
      for (int64_t k = 0; k < out.size; ++k)
        std::copy_n(&f.ints[indices[k] * rs], rs, &g.ints[k * rs]);
    } else {
      g.floats.resize(out.size * rs);
      for (int64_t k = 0; k < out.size; ++k)
        std::copy_n(&f.floats[indices[k] * rs], rs, &g.floats[k * rs]);
    }
    out.fields.push_back(std::move(g));
  }
  for (const std::vector<uint8_t> &p : s.present) {
    std::vector<uint8_t> q;
    if (!p.empty())
      for (int64_t i : indices)
        q.push_back(p[i]);
    out.present.push_back(std::move(q));
  }
  return out;
}

void applyLabelFractions(Split &split, const std::vector<TaskSpec> &tasks,
                         uint64_t seed) {
  split.present.assign(tasks.size(), {});
  bool any = false;
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (tasks[t].labelFraction >= 1.0)
      continue;
    any = true;
    // FNV-1a of the task name: the marks do not depend on the task order.
    uint64_t h = 1469598103934665603ull;
    for (char c : tasks[t].name)
      h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    std::vector<uint8_t> &p = split.present[t];
    p.resize(split.size);
    for (int64_t i = 0; i < split.size; ++i)
      p[i] = hashUniform(seed, h, static_cast<uint64_t>(i)) <
             tasks[t].labelFraction;
  }
  if (!any)
    split.present.clear();
}

TrainingData loadTraining(const Descriptor &desc, const std::string &dataDir,
                          int64_t limit) {
  Split all = loadSplit(desc, dataDir, true, limit);
  applyLabelFractions(all, desc.tasks, desc.data.seed);
  TrainingData out;
  double v = desc.data.validation;
  if (v <= 0.0) {
    out.train = std::move(all);
    return out;
  }
  int64_t nVal = static_cast<int64_t>(std::llround(all.size * v));
  nVal = std::clamp<int64_t>(nVal, 1, all.size - 1);
  if (all.size < 2)
    fail("{}: {} sample(s) cannot be split into training and validation",
         all.imagesPath, all.size);
  // A fixed choice: the same samples are held out whatever the train seed,
  // so a resumed run validates on the same data.
  std::vector<uint8_t> held(all.size, 0);
  std::vector<int64_t> order(all.size);
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = splitmix64(desc.data.seed ^ 0x76616c6964ull);
  for (int64_t i = all.size - 1; i > 0; --i) {
    state = splitmix64(state);
    std::swap(order[i], order[state % static_cast<uint64_t>(i + 1)]);
  }
  for (int64_t k = 0; k < nVal; ++k)
    held[order[k]] = 1;
  std::vector<int64_t> trainIdx, valIdx;
  for (int64_t i = 0; i < all.size; ++i)
    (held[i] ? valIdx : trainIdx).push_back(i);
  out.train = subset(all, trainIdx);
  out.validation = subset(all, valIdx);
  out.validation.present.clear(); // validation keeps every label
  return out;
}

} // namespace mtl::rt
