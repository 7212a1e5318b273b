//===- Inference.cpp - Inference of a model, for embedding ----------------===//
#include "runtime/Inference.h"
#include "runtime/Checkpoint.h"
#include "runtime/Error.h"
#include "runtime/Heap.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace mtl::rt {

namespace {
/// Name -> (values, shape) of every tensor in a checkpoint section.
using Tensors = std::map<std::string, std::pair<const float *, Shape>>;

Tensors byName(const std::vector<std::pair<std::string, Shape>> &specs,
               const std::vector<float> &values) {
  Tensors out;
  const float *p = values.data();
  for (const auto &[name, shape] : specs) {
    out[name] = {p, shape};
    p += numElements(shape);
  }
  return out;
}

void copyTensor(const Tensors &from, const std::string &name,
                const Shape &shape, float *to, const std::string &path,
                const char *what) {
  auto it = from.find(name);
  if (it == from.end())
    fail("{}: checkpoint has no {} '{}'", path, what, name);
  if (it->second.second != shape)
    fail("{}: {} '{}' is {} in the checkpoint, the model expects {}", path,
         what, name, toString(it->second.second), toString(shape));
  std::memcpy(to, it->second.first, numElements(shape) * sizeof(float));
}
} // namespace

InferenceSession::InferenceSession(const CompiledModel &compiled,
                                   const std::string &checkpoint)
    : model(compiled) {
  keepBuffersInHeap();
  CheckpointState state = readCheckpoint(checkpoint);
  Tensors params = byName(state.params, state.values);
  Tensors states = byName(state.states, state.stateValues);
  const Descriptor &d = model.desc();
  for (size_t i = 0; i < d.params.size(); ++i)
    copyTensor(params, d.params[i].name, d.params[i].shape, model.param(i),
               checkpoint, "parameter");
  for (size_t i = 0; i < d.states.size(); ++i)
    copyTensor(states, d.states[i].name, d.states[i].shape, model.state(i),
               checkpoint, "state");
  pipeline = std::make_unique<Pipeline>(model, "predict");
}

void InferenceSession::predict(const float *input, float *const *outputs) {
  const Descriptor &d = model.desc();
  std::memcpy(pipeline->input(), input,
              d.batch * numElements(d.inputShape) * sizeof(float));
  pipeline->run();
  for (size_t t = 0; t < d.tasks.size(); ++t)
    if (pipeline->hasPrediction(t) && outputs[t])
      std::memcpy(outputs[t], pipeline->prediction(t),
                  d.batch * numElements(d.tasks[t].predictionShape) *
                      sizeof(float));
}

} // namespace mtl::rt
