//===- Inference.h - Inference of a model, for embedding --------*- C++ -*-===//
//
// What a library built by `mtlc build --emit=lib --tasks=...` runs: the
// predict pipeline of the chosen heads with the parameters of a training
// checkpoint (the checkpoint may hold more parameters than those heads
// need: they are looked up by name).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_INFERENCE_H
#define MTL_RUNTIME_INFERENCE_H

#include "runtime/CompiledModel.h"
#include "runtime/Model.h"
#include "runtime/Pipeline.h"

#include <memory>
#include <string>
#include <vector>

namespace mtl::rt {

class InferenceSession {
public:
  /// Loads `checkpoint`; throws Error naming what is missing or mismatched.
  InferenceSession(const CompiledModel &compiled,
                   const std::string &checkpoint);

  /// Runs one batch. `input` holds `batch` samples of the input shape;
  /// `outputs[t]` receives task t's prediction (tasks in descriptor order).
  void predict(const float *input, float *const *outputs);

  const Descriptor &desc() const { return model.desc(); }

private:
  Model model;
  std::unique_ptr<Pipeline> pipeline;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_INFERENCE_H
