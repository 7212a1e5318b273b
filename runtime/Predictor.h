//===- Predictor.h - Per-sample predictions of every task -----------------===//
#ifndef MTL_RUNTIME_PREDICTOR_H
#define MTL_RUNTIME_PREDICTOR_H

#include "runtime/Dataset.h"
#include "runtime/Model.h"

namespace mtl::rt {

struct Prediction {
  int64_t index = 0;                     // sample index in the split
  int32_t label = 0;                     // its raw label
  std::vector<std::vector<float>> tasks; // per task, its prediction row
};

/// Runs `predict` (or eval_step when the binary has no predict pipeline) on
/// samples [first, first + count) of `data`.
std::vector<Prediction> predict(Model &model, const Split &data, int64_t first,
                                int64_t count);

} // namespace mtl::rt

#endif // MTL_RUNTIME_PREDICTOR_H
