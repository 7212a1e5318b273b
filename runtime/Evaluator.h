//===- Evaluator.h - Test-set evaluation ----------------------------------===//
#ifndef MTL_RUNTIME_EVALUATOR_H
#define MTL_RUNTIME_EVALUATOR_H

#include "runtime/Dataset.h"
#include "runtime/Metrics.h"
#include "runtime/Model.h"

namespace mtl::rt {

struct EvalResult {
  int64_t samples = 0;
  std::vector<TaskMetrics> tasks; // descriptor order
};

/// Runs eval_step over every sample of `data` (the last batch padded and
/// masked out); per-task losses are means over real rows.
EvalResult evaluate(Model &model, const Split &data);

} // namespace mtl::rt

#endif // MTL_RUNTIME_EVALUATOR_H
