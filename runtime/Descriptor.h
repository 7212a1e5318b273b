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
enum class ArgKind {
  Input,
  Target,
  Mask,
  Param,
  Loss,
  Prediction,
  Grad,
  State,    // a non-trained tensor (running statistics), saved in checkpoints
  StateOut, // output: the new value of a state, copied back after each step
  Seed,     // 0-dim i32: a fresh value every training step, fixed otherwise
  LossWeights, // f32[T]: the tasks' loss weights, set by the strategy
  TaskGrad,    // output: task `task`'s gradient of shared parameter `name`
};

const char *toString(DType dtype);
const char *toString(ArgKind kind);

/// One pipeline argument or output.
struct TensorSpec {
  ArgKind kind = ArgKind::Input;
  std::string name; // input name, task name or parameter name
  Shape shape;
  DType dtype = DType::F32;
  std::string task; // TaskGrad: the task
};

struct PipelineSpec {
  std::string name;
  std::vector<TensorSpec> args;
  std::vector<TensorSpec> outputs;
  /// mtlc lists every pipeline; an unused one has no arguments.
  bool empty() const { return args.empty() && outputs.empty(); }
};

/// One field of a data source: a class id per sample (i32, -1 = missing) or
/// a float tensor per sample (f32, a NaN anywhere = missing). `image` is the
/// input itself.
struct FieldSpec {
  std::string name;
  DType dtype = DType::I32;
  Shape shape;         // per sample; [] for a class id
  int64_t classes = 0; // i32 fields: number of classes when known, else 0
};

/// The fields a data source provides (docs/runtime.md, "Data sources");
/// empty for an unknown source. `inputShape` is the image field's shape.
std::vector<FieldSpec> sourceFields(const std::string &source,
                                    const Shape &inputShape);
/// The per-sample input shape a generated source produces (empty for the
/// file sources, whose shape comes from the files).
Shape sourceInputShape(const std::string &source);

struct TaskSpec {
  std::string name;
  std::string loss; // softmax_cross_entropy | mse | ...
  double weight = 1.0;
  std::string target;         // a field of the data source (label, box, ...)
  std::vector<int> targetMap; // label -> class; -1 = unlabelled for this task
  std::vector<std::string> metrics; // accuracy | topK | iou | mse | mae | psnr
  Shape predictionShape;            // per sample
  double labelFraction = 1.0; // share of training samples that keep a label

  bool isClassification() const { return loss == "softmax_cross_entropy"; }
  /// The head outputs logits of a sigmoid loss: value metrics apply the
  /// sigmoid first.
  bool predictsLogits() const;
  /// Classes of a classification task: the last prediction dimension.
  int64_t numClasses() const;
};

/// k of a `top<k>` metric name, 0 when `metric` is not one.
int topK(const std::string &metric);
/// Whether the runtime computes `metric` (accuracy, top<k>, iou, mse, mae,
/// psnr).
bool isKnownMetric(const std::string &metric);

struct ParamSpec {
  std::string name;
  Shape shape;
  std::string init; // he_normal | glorot_uniform | zeros | ones
  int64_t fanIn = 0;
  int64_t fanOut = 0;
};

/// A non-trained tensor kept across steps (batch-norm running statistics).
struct StateSpec {
  std::string name;
  Shape shape;
  std::string init; // zeros | ones
};

/// Random transformations of training images, drawn on the loader thread.
struct AugmentSpec {
  int64_t shift = 0;   // pixels: uniform integer shift in [-shift, shift]
  bool flip = false;   // horizontal flip with probability 1/2
  double noise = 0.0;  // std of additive gaussian noise
  double rotate = 0.0; // degrees: uniform rotation in [-rotate, rotate]
  bool any() const { return shift > 0 || flip || noise > 0 || rotate > 0; }
  bool geometric() const { return shift > 0 || flip || rotate > 0; }
};

struct DataSpec {
  /// idx | npy | csv | fashion-detect | multi-fashion | sequential
  std::string source = "idx";
  std::string dir;
  // idx, npy and the generated sources (which read Fashion-MNIST IDX files)
  std::string trainImages, trainLabels, testImages, testLabels;
  // csv
  std::string trainFile, testFile;
  std::string labelColumn = "0"; // a column index, or a header name
  double scale = 0.0;     // npy/csv feature scale; 0 = 1/255 for u8, else 1
  int64_t limitTrain = 0; // 0 = all samples
  int64_t limitTest = 0;
  double validation = 0.0; // share of the training file held out
  uint64_t seed = 1;       // generated datasets and partial labels
  AugmentSpec augment;

  bool generated() const {
    return source == "fashion-detect" || source == "multi-fashion" ||
           source == "sequential";
  }
};

struct TrainSpec {
  std::string optimizer = "adam"; // adam | sgd
  double lr = 1e-3;
  double momentum = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weightDecay = 0.0;
  int64_t warmup = 0; // steps over which the learning rate ramps up to lr
  std::string lrSchedule = "constant"; // constant | cosine | step
  double minLr = 0.0;                  // cosine: the rate it ends at
  int64_t stepEpochs = 1;              // step: epochs between decays
  double gamma = 0.1;                  // step: the decay factor
  int64_t epochs = 1;
  uint64_t seed = 1;
};

/// Multi-task optimization (`[strategy]` of the spec, docs/strategies.md).
struct StrategySpec {
  std::string weighting = "static"; // equal|static|uncertainty|dwa|gradnorm|rlw
  std::string gradient = "none";    // none|pcgrad|mgda_ub|cagrad|imtl_g
  std::string on = "rep";           // rep | param
  double dwaTemperature = 2.0;
  double gradnormAlpha = 1.5;
  double cagradC = 0.5;
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
  std::vector<StateSpec> states;
  TrainSpec train;
  StrategySpec strategy;
  std::map<std::string, PipelineSpec> pipelines;

  /// Parses and validates; throws Error naming the offending field.
  static Descriptor parse(const std::string &json);

  /// The pipeline called `name`, or nullptr when absent or empty.
  const PipelineSpec *pipeline(const std::string &name) const;
  const TaskSpec *task(const std::string &name) const;
  const ParamSpec *param(const std::string &name) const;
  const StateSpec *state(const std::string &name) const;
  /// The source field task `t` reads (nullptr for an unknown target).
  const FieldSpec *targetField(const TaskSpec &t) const;
  int64_t numParamElements() const;
  /// The fields of this descriptor's data source.
  std::vector<FieldSpec> fields;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_DESCRIPTOR_H
