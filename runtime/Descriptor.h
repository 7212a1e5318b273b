//===- Descriptor.h - The model descriptor mtlc embeds in a binary -------===//
//
// Everything model-specific reaches the runtime through this JSON document
// (docs/runtime.md, "Model descriptor"). Parsing validates it completely, so
// the rest of the runtime can trust shapes and names without re-checking.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_DESCRIPTOR_H
#define MTL_RUNTIME_DESCRIPTOR_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mtl::rt {

using Shape = std::vector<int64_t>;

/// Number of elements of a logical shape (1 for a scalar).
int64_t numElements(const Shape &shape);
/// "[2, 3]" for diagnostics.
std::string toString(const Shape &shape);

enum class DType { F32, I32 };
enum class ArgKind { Input, Target, Mask, Param, Loss, Prediction, Grad };

const char *toString(DType dtype);
const char *toString(ArgKind kind);

/// One pipeline argument or output.
struct TensorSpec {
  ArgKind kind = ArgKind::Input;
  std::string name; // input name, task name or parameter name
  Shape shape;
  DType dtype = DType::F32;
};

struct PipelineSpec {
  std::string name;
  std::vector<TensorSpec> args;
  std::vector<TensorSpec> outputs;
  /// mtlc lists every pipeline; an unused one has no arguments.
  bool empty() const { return args.empty() && outputs.empty(); }
};

struct TaskSpec {
  std::string name;
  std::string loss; // softmax_cross_entropy | mse | ...
  double weight = 1.0;
  std::string target;         // label | image
  std::vector<int> targetMap; // label -> class; -1 = unlabelled for this task
  std::vector<std::string> metrics; // accuracy | mse
  Shape predictionShape;            // per sample

  bool isClassification() const { return loss == "softmax_cross_entropy"; }
  /// Classes of a classification task: the last prediction dimension.
  int64_t numClasses() const;
};

struct ParamSpec {
  std::string name;
  Shape shape;
  std::string init; // he_normal | glorot_uniform | zeros | ones
  int64_t fanIn = 0;
  int64_t fanOut = 0;
};

struct DataSpec {
  std::string format = "idx";
  std::string dir;
  std::string trainImages, trainLabels, testImages, testLabels;
  int64_t limitTrain = 0; // 0 = all samples
  int64_t limitTest = 0;
};

struct TrainSpec {
  std::string optimizer = "adam"; // adam | sgd
  double lr = 1e-3;
  double momentum = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weightDecay = 0.0;
  int64_t epochs = 1;
  uint64_t seed = 1;
};

struct Descriptor {
  int version = 1;
  std::string model;
  std::string spec;
  int64_t batch = 0;
  std::string inputName;
  Shape inputShape; // per sample, [H, W, C]
  DataSpec data;
  std::vector<TaskSpec> tasks;
  std::vector<ParamSpec> params;
  TrainSpec train;
  std::map<std::string, PipelineSpec> pipelines;

  /// Parses and validates; throws Error naming the offending field.
  static Descriptor parse(const std::string &json);

  /// The pipeline called `name`, or nullptr when absent or empty.
  const PipelineSpec *pipeline(const std::string &name) const;
  const TaskSpec *task(const std::string &name) const;
  const ParamSpec *param(const std::string &name) const;
  int64_t numParamElements() const;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_DESCRIPTOR_H
