//===- Pipeline.cpp - A compiled pipeline with its buffers bound ---------===//

#include "runtime/Pipeline.h"
#include "runtime/Error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

// The Halide runtime linked into model binaries (weak: unit tests link
// libmtlrt without one).
extern "C" __attribute__((weak)) halide_error_handler_t
halide_set_error_handler(halide_error_handler_t handler);

namespace mtl::rt {

namespace {

// Halide dimension i is logical dimension r-1-i (last dimension innermost).
std::vector<int> halideSizes(const Shape &shape) {
  return std::vector<int>(shape.rbegin(), shape.rend());
}

Halide::Runtime::Buffer<> view(float *data, const Shape &shape) {
  return Halide::Runtime::Buffer<>(halide_type_of<float>(), data,
                                   halideSizes(shape));
}

Halide::Runtime::Buffer<> view(int32_t *data, const Shape &shape) {
  return Halide::Runtime::Buffer<>(halide_type_of<int32_t>(), data,
                                   halideSizes(shape));
}

/// Halide's default error handler prints and aborts (e.g. a CUDA build run
/// where no driver is installed: "CUDA API not found: cuInit"). Kept here
/// instead, so the failing call returns its error code and the runtime
/// reports the message and exits cleanly.
thread_local std::string lastHalideError;
void recordHalideError(void *, const char *msg) {
  lastHalideError = msg ? msg : "";
  while (!lastHalideError.empty() &&
         (lastHalideError.back() == '\n' || lastHalideError.back() == ' '))
    lastHalideError.pop_back();
}

} // namespace

Pipeline::Pipeline(Model &model, const std::string &name)
    : model(model), pipelineSpec(&model.pipeline(name)),
      entry(&model.entry(name)), batch(model.desc().batch) {
  if (halide_set_error_handler) // once per process is enough; idempotent
    halide_set_error_handler(recordHalideError);
  const Descriptor &d = model.desc();
  size_t numTasks = d.tasks.size();
  inputData.assign(batch * numElements(d.inputShape), 0.0f);
  classes.assign(numTasks, AlignedVector<int32_t>(batch, 0));
  masks.assign(numTasks, AlignedVector<float>(batch, 0.0f));
  values.resize(numTasks);
  for (size_t t = 0; t < numTasks; ++t) {
    const TaskSpec &task = d.tasks[t];
    if (task.isClassification())
      continue;
    const FieldSpec *f = d.targetField(task);
    int64_t row = f && f->dtype == DType::F32 ? numElements(f->shape) : 1;
    values[t].assign(batch * row, 0.0f);
  }
  seedData.assign(1, 0);
  losses.assign(numTasks, -1);
  predictions.assign(numTasks, -1);

  std::vector<const TensorSpec *> all;
  for (const TensorSpec &t : pipelineSpec->args)
    all.push_back(&t);
  for (const TensorSpec &t : pipelineSpec->outputs)
    all.push_back(&t);
  slots.resize(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    Slot &s = slots[i];
    const TensorSpec &t = *all[i];
    s.spec = &t;
    size_t task = 0;
    for (; task < numTasks && d.tasks[task].name != t.name; ++task)
      ;
    switch (t.kind) {
    case ArgKind::Input:
      s.buffer = view(inputData.data(), t.shape);
      break;
    case ArgKind::Target:
      s.buffer = t.dtype == DType::I32 ? view(classes[task].data(), t.shape)
                                       : view(values[task].data(), t.shape);
      break;
    case ArgKind::Mask:
      s.buffer = view(masks[task].data(), t.shape);
      break;
    case ArgKind::Param:
      s.buffer = view(model.param(model.paramIndex(t.name)), t.shape);
      break;
    case ArgKind::Grad:
      s.buffer = view(model.grad(model.paramIndex(t.name)), t.shape);
      break;
    case ArgKind::Loss:
    case ArgKind::Prediction:
      s.f32.assign(numElements(t.shape), 0.0f);
      s.buffer = view(s.f32.data(), t.shape);
      (t.kind == ArgKind::Loss ? losses : predictions)[task] =
          static_cast<int>(i);
      break;
    case ArgKind::State:
      s.buffer = view(model.state(model.stateIndex(t.name)), t.shape);
      break;
    case ArgKind::StateOut:
      // Owned: the pipeline must not write the state it is reading.
      s.f32.assign(numElements(t.shape), 0.0f);
      s.buffer = view(s.f32.data(), t.shape);
      stateOuts.emplace_back(static_cast<int>(i), model.stateIndex(t.name));
      break;
    case ArgKind::Seed:
      s.buffer = view(seedData.data(), t.shape);
      break;
    case ArgKind::LossWeights:
      for (const TaskSpec &task : d.tasks)
        s.f32.push_back(static_cast<float>(task.weight));
      s.buffer = view(s.f32.data(), t.shape);
      lossWeightsSlot = static_cast<int>(i);
      break;
    case ArgKind::TaskGrad: {
      size_t k = 0;
      for (; k < numTasks && d.tasks[k].name != t.task; ++k)
        ;
      s.f32.assign(numElements(t.shape), 0.0f);
      s.buffer = view(s.f32.data(), t.shape);
      taskGradSlots.emplace_back(static_cast<int>(i), model.paramIndex(t.name),
                                 k);
      break;
    }
    }
  }
  for (Slot &s : slots)
    argv.push_back(s.buffer.raw_buffer());
}

void Pipeline::setBatch(const Batch &b) {
  const Descriptor &d = model.desc();
  std::memcpy(inputData.data(), b.images.data(),
              inputData.size() * sizeof(float));
  for (size_t t = 0; t < d.tasks.size(); ++t) {
    const TaskSpec &task = d.tasks[t];
    const std::vector<uint8_t> *present =
        t < b.present.size() && !b.present[t].empty() ? &b.present[t] : nullptr;
    auto keep = [&](int64_t r) {
      return b.mask[r] != 0.0f && (!present || (*present)[r]);
    };
    if (task.target == "image" || task.target.empty()) {
      // No target (kl_divergence): the mask still says which rows count.
      if (!task.target.empty())
        std::copy(inputData.begin(), inputData.end(), values[t].begin());
      for (int64_t r = 0; r < batch; ++r)
        masks[t][r] = keep(r) ? 1.0f : 0.0f;
      continue;
    }
    const Field *f = b.field(task.target);
    if (!f)
      fail("task '{}': the batch has no field '{}'", task.name, task.target);
    if (f->dtype == DType::F32) {
      const int64_t n = f->rowSize();
      if (static_cast<int64_t>(values[t].size()) != batch * n)
        fail("task '{}': field '{}' has {} values per sample, the pipeline "
             "expects {}",
             task.name, task.target, n, values[t].size() / batch);
      for (int64_t r = 0; r < batch; ++r) {
        const float *src = &f->floats[r * n];
        float *dst = &values[t][r * n];
        bool ok = keep(r);
        for (int64_t i = 0; ok && i < n; ++i)
          ok = !std::isnan(src[i]);
        masks[t][r] = ok ? 1.0f : 0.0f;
        // A masked-out row is zeroed: 0 * NaN would still poison the loss.
        if (ok)
          std::copy_n(src, n, dst);
        else
          std::fill(dst, dst + n, 0.0f);
      }
      continue;
    }
    for (int64_t r = 0; r < batch; ++r) {
      // A negative class (missing, or target_map -1) means "no label for
      // this task".
      int32_t cls = keep(r) ? mapLabel(task, f->ints[r]) : -1;
      masks[t][r] = cls >= 0 ? 1.0f : 0.0f;
      cls = std::max(cls, 0);
      classes[t][r] = cls;
      if (!values[t].empty())
        values[t][r] = static_cast<float>(cls);
    }
  }
}

void Pipeline::setSeed(int32_t seed) { seedData[0] = seed; }

void Pipeline::setLossWeights(const std::vector<float> &weights) {
  if (lossWeightsSlot < 0)
    return;
  AlignedVector<float> &w = slots[lossWeightsSlot].f32;
  if (weights.size() != w.size())
    fail("pipeline '{}': {} loss weights for {} tasks", pipelineSpec->name,
         weights.size(), w.size());
  std::copy(weights.begin(), weights.end(), w.begin());
}

std::vector<Pipeline::TaskGrad> Pipeline::taskGrads() const {
  std::vector<TaskGrad> out;
  for (const auto &[slot, param, task] : taskGradSlots)
    out.push_back({param, task, slots[slot].f32.data()});
  return out;
}

void Pipeline::commitStates() {
  for (const auto &[slot, index] : stateOuts) {
    const AlignedVector<float> &src = slots[slot].f32;
    std::copy(src.begin(), src.end(), model.state(index));
  }
}

void Pipeline::run() {
  // Host data changed since the last call (new batch, updated parameters);
  // for a GPU pipeline this makes Halide upload it again.
  for (size_t i = 0; i < pipelineSpec->args.size(); ++i)
    slots[i].buffer.raw_buffer()->set_host_dirty(true);
  lastHalideError.clear();
  int rc = entry->argv(argv.data());
  if (rc != 0)
    fail("pipeline '{}' failed (Halide error {}){}{}", pipelineSpec->name, rc,
         lastHalideError.empty() ? "" : ": ", lastHalideError);
  for (size_t i = pipelineSpec->args.size(); i < slots.size(); ++i)
    if (slots[i].buffer.copy_to_host() != 0)
      fail("pipeline '{}': copying output '{}' to the host failed",
           pipelineSpec->name, slots[i].spec->name);
}

float Pipeline::loss(size_t t) const {
  return losses[t] >= 0 ? slots[losses[t]].f32[0] : 0.0f;
}

const float *Pipeline::prediction(size_t t) const {
  return predictions[t] >= 0 ? slots[predictions[t]].f32.data() : nullptr;
}

TaskBatch Pipeline::taskBatch(size_t t) const {
  const TaskSpec &task = model.desc().tasks[t];
  TaskBatch b;
  b.batch = batch;
  b.mask = masks[t].data();
  b.prediction = prediction(t);
  b.rowSize = numElements(task.predictionShape);
  if (task.isClassification())
    b.classes = classes[t].data();
  else if (static_cast<int64_t>(values[t].size()) == batch * b.rowSize)
    b.values = values[t].data();
  return b;
}

} // namespace mtl::rt
