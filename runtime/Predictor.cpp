//===- Predictor.cpp - Per-sample predictions of every task --------------===//

#include "runtime/Predictor.h"
#include "runtime/Batcher.h"
#include "runtime/Error.h"
#include "runtime/Pipeline.h"

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

  const int64_t imageSize = data.imageSize();
  Batch batch;
  batch.indices.assign(d.batch, -1);
  batch.images.assign(d.batch * imageSize, 0.0f);
  batch.labels.assign(d.batch, 0);
  batch.mask.assign(d.batch, 0.0f);
  std::vector<Prediction> out;
  for (int64_t begin = first; begin < first + count; begin += d.batch) {
    batch.rows = std::min(d.batch, first + count - begin);
    for (int64_t r = 0; r < batch.rows; ++r) {
      batch.indices[r] = begin + r;
      std::memcpy(&batch.images[r * imageSize], data.image(begin + r),
                  imageSize * sizeof(float));
      batch.labels[r] = data.labels[begin + r];
      batch.mask[r] = 1.0f;
    }
    for (int64_t r = batch.rows; r < d.batch; ++r)
      batch.mask[r] = 0.0f;
    pipeline.setBatch(batch);
    pipeline.run();
    for (int64_t r = 0; r < batch.rows; ++r) {
      Prediction p;
      p.index = begin + r;
      p.label = batch.labels[r];
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
