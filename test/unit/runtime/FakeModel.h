//===- FakeModel.h - A hand-written model for end-to-end runtime tests ---===//
//
// Two tasks on 2x2 images (4 pixels x), batch 4:
//   "value": linear regression of the label, pred = w . x + b, mse loss;
//   "high":  2-class softmax classifier, logits = x Wc + bc, target_map
//            [0, 0, 1, 1], cross-entropy loss.
// train_step / eval_step / predict compute losses and gradients by hand with
// the `_argv` signature Halide AOT pipelines have.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_TEST_RUNTIME_FAKEMODEL_H
#define MTL_TEST_RUNTIME_FAKEMODEL_H

#include "runtime/CompiledModel.h"

#include <nlohmann/json.hpp>

#include <string>

namespace mtl::rt::test {

/// The fake model's descriptor; `dataDir` becomes data.dir.
nlohmann::json fakeDescriptor(const std::string &dataDir,
                              const std::string &optimizer = "adam");

/// Writes train (`trainSize` samples) and test (`testSize`) IDX files whose
/// label is a function of the pixels, into `dir`.
void writeFakeData(const std::string &dir, int trainSize, int testSize);

/// A CompiledModel over the fake pipelines; `json` must outlive it.
CompiledModel fakeCompiledModel(const std::string &json);

/// When set, train_step reports a NaN loss (to test the NaN guard).
extern bool fakeProduceNaN;

} // namespace mtl::rt::test

#endif // MTL_TEST_RUNTIME_FAKEMODEL_H
