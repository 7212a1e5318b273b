//===- Predictor.cpp - Per-sample predictions of every task --------------===//

#include "runtime/Predictor.h"
#include "runtime/Batcher.h"
#include "runtime/Error.h"
#include "runtime/Pipeline.h"
#include "runtime/Trainer.h"

#include <cstring>

namespace mtl::rt {

std::vector<Prediction> predict(Model &model, const Split &data, int64_t first,
                                int64_t count) {
  const Descriptor &d = model.desc();
  if (first < 0 || first >= data.size)
    fail("--index {} is out of range: the test set has {} samples", first,
         data.size);
  count = std::min(count, data.size - first);
  Pipeline pipeline(model,
                    model.hasPipeline("predict") ? "predict" : "eval_step");
  for (size_t t = 0; t < d.tasks.size(); ++t)
    if (!pipeline.hasPrediction(t))
      fail("pipeline '{}' has no prediction for task '{}'",
           pipeline.spec().name, d.tasks[t].name);

  // The requested samples, batched (and padded) as for evaluation.
  std::vector<int64_t> indices(count);
  for (int64_t k = 0; k < count; ++k)
    indices[k] = first + k;
  Split part = subset(data, indices);
  Batcher batcher(part, d.batch, Batcher::Mode::Eval, 0);
  batcher.startEpoch(0);
  std::vector<Prediction> out;
  while (const Batch *batch = batcher.next()) {
    pipeline.setBatch(*batch);
    pipeline.setSeed(kEvalSeed);
    pipeline.run();
    for (int64_t r = 0; r < batch->rows; ++r) {
      Prediction p;
      p.index = first + batch->indices[r];
      p.label = data.label(p.index);
      for (size_t t = 0; t < d.tasks.size(); ++t) {
        int64_t n = numElements(d.tasks[t].predictionShape);
        const float *row = pipeline.prediction(t) + r * n;
        p.tasks.emplace_back(row, row + n);
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

} // namespace mtl::rt
