//===- Evaluator.cpp - Test-set evaluation -------------------------------===//

#include "runtime/Evaluator.h"
#include "runtime/Batcher.h"
#include "runtime/Pipeline.h"
#include "runtime/Trainer.h"

namespace mtl::rt {

EvalResult evaluate(Model &model, const Split &data) {
  const Descriptor &d = model.desc();
  Pipeline pipeline(model, "eval_step");
  Batcher batcher(data, d.batch, Batcher::Mode::Eval, 0);
  EvalResult result;
  for (const TaskSpec &t : d.tasks)
    result.tasks.emplace_back(t);
  batcher.startEpoch(0);
  while (const Batch *batch = batcher.next()) {
    pipeline.setBatch(*batch);
    pipeline.setSeed(kEvalSeed);
    pipeline.run();
    for (size_t t = 0; t < d.tasks.size(); ++t)
      result.tasks[t].add(pipeline.loss(t), pipeline.taskBatch(t));
    result.samples += batch->rows;
  }
  return result;
}

} // namespace mtl::rt
