//===- Descriptor.cpp - Parse and validate the model descriptor ----------===//

#include "runtime/Descriptor.h"
#include "runtime/Error.h"

#include <nlohmann/json.hpp>

#include <set>

using nlohmann::json;

namespace mtl::rt {

int64_t numElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string toString(const Shape &shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

const char *toString(DType dtype) {
  return dtype == DType::F32 ? "f32" : "i32";
}

const char *toString(ArgKind kind) {
  switch (kind) {
  case ArgKind::Input:
    return "input";
  case ArgKind::Target:
    return "target";
  case ArgKind::Mask:
    return "mask";
  case ArgKind::Param:
    return "param";
  case ArgKind::Loss:
    return "loss";
  case ArgKind::Prediction:
    return "prediction";
  case ArgKind::Grad:
    return "grad";
  }
  return "?";
}

int64_t TaskSpec::numClasses() const {
  return predictionShape.empty() ? 1 : predictionShape.back();
}

namespace {

// Field accessors that turn nlohmann's type errors into messages naming the
// JSON path, so a broken mtlc build is diagnosed without a debugger.
const json &field(const json &obj, const char *key, const std::string &path) {
  if (!obj.is_object())
    fail("descriptor: {} must be an object", path);
  auto it = obj.find(key);
  if (it == obj.end())
    fail("descriptor: missing field '{}.{}'", path, key);
  return *it;
}

template <typename T>
T get(const json &obj, const char *key, const std::string &path) {
  const json &value = field(obj, key, path);
  try {
    return value.get<T>();
  } catch (const json::exception &) {
    fail("descriptor: field '{}.{}' has the wrong type ({})", path, key,
         value.type_name());
  }
}

template <typename T>
T getOr(const json &obj, const char *key, const std::string &path, T fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj.at(key).is_null())
    return fallback;
  return get<T>(obj, key, path);
}

Shape getShape(const json &obj, const char *key, const std::string &path) {
  Shape shape = get<Shape>(obj, key, path);
  for (int64_t d : shape)
    if (d <= 0)
      fail("descriptor: '{}.{}' = {} has a non-positive dimension", path, key,
           toString(shape));
  return shape;
}

DType parseDType(const std::string &s, const std::string &path) {
  if (s == "f32")
    return DType::F32;
  if (s == "i32")
    return DType::I32;
  fail("descriptor: {}.dtype: unknown dtype '{}' (expected f32 or i32)", path,
       s);
}

ArgKind parseKind(const std::string &s, const std::string &path) {
  static const std::map<std::string, ArgKind> kinds = {
      {"input", ArgKind::Input}, {"target", ArgKind::Target},
      {"mask", ArgKind::Mask},   {"param", ArgKind::Param},
      {"loss", ArgKind::Loss},   {"prediction", ArgKind::Prediction},
      {"grad", ArgKind::Grad}};
  auto it = kinds.find(s);
  if (it == kinds.end())
    fail("descriptor: {}.kind: unknown kind '{}'", path, s);
  return it->second;
}

std::vector<TensorSpec> parseTensors(const json &list,
                                     const std::string &path) {
  if (!list.is_array())
    fail("descriptor: '{}' must be an array", path);
  std::vector<TensorSpec> tensors;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = fmt::format("{}[{}]", path, i);
    TensorSpec t;
    t.kind = parseKind(get<std::string>(list[i], "kind", p), p);
    t.name = get<std::string>(list[i], "name", p);
    t.shape = getShape(list[i], "shape", p);
    t.dtype = parseDType(get<std::string>(list[i], "dtype", p), p);
    tensors.push_back(std::move(t));
  }
  return tensors;
}

Shape batched(int64_t batch, const Shape &perSample) {
  Shape shape{batch};
  shape.insert(shape.end(), perSample.begin(), perSample.end());
  return shape;
}

// Checks one pipeline tensor against the rest of the descriptor: the runtime
// allocates buffers from these shapes, so they must agree exactly.
void checkTensor(const Descriptor &d, const TensorSpec &t, bool isOutput,
                 const std::string &path) {
  auto expect = [&](const Shape &shape, DType dtype) {
    if (t.shape != shape || t.dtype != dtype)
      fail("descriptor: {} ({} '{}') is {} {}, expected {} {}", path,
           toString(t.kind), t.name, toString(t.dtype), toString(t.shape),
           toString(dtype), toString(shape));
  };
  bool outputKind = t.kind == ArgKind::Loss || t.kind == ArgKind::Prediction ||
                    t.kind == ArgKind::Grad;
  if (outputKind != isOutput)
    fail("descriptor: {}: kind '{}' cannot be a pipeline {}", path,
         toString(t.kind), isOutput ? "output" : "argument");
  const TaskSpec *task = d.task(t.name);
  const ParamSpec *param = d.param(t.name);
  switch (t.kind) {
  case ArgKind::Input:
    if (t.name != d.inputName)
      fail("descriptor: {}: unknown input '{}'", path, t.name);
    return expect(batched(d.batch, d.inputShape), DType::F32);
  case ArgKind::Param:
  case ArgKind::Grad:
    if (!param)
      fail("descriptor: {}: unknown parameter '{}'", path, t.name);
    return expect(param->shape, DType::F32);
  default:
    break;
  }
  if (!task)
    fail("descriptor: {}: unknown task '{}'", path, t.name);
  switch (t.kind) {
  case ArgKind::Target:
    if (task->target == "image") {
      // The image in any shape with its element count, row-major (a dense
      // head reconstructs a flattened image).
      auto count = [](const Shape &s) {
        int64_t n = 1;
        for (int64_t v : s)
          n *= v;
        return n;
      };
      if (!t.shape.empty() && t.shape[0] == d.batch &&
          count(t.shape) == d.batch * count(d.inputShape))
        return expect(t.shape, DType::F32);
      return expect(batched(d.batch, d.inputShape), DType::F32);
    }
    if (task->isClassification())
      return expect({d.batch}, DType::I32);
    // A regression on the label: one float per sample.
    if (t.shape == Shape{d.batch, 1})
      return expect({d.batch, 1}, DType::F32);
    return expect({d.batch}, DType::F32);
  case ArgKind::Mask:
    return expect({d.batch}, DType::F32);
  case ArgKind::Loss:
    return expect({}, DType::F32);
  case ArgKind::Prediction:
    return expect(batched(d.batch, task->predictionShape), DType::F32);
  default:
    return;
  }
}

} // namespace

Descriptor Descriptor::parse(const std::string &text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error &e) {
    fail("descriptor: malformed JSON: {}", e.what());
  }
  Descriptor d;
  d.version = get<int>(root, "version", "$");
  if (d.version != 1)
    fail("descriptor: unsupported version {} (this runtime reads version 1)",
         d.version);
  d.model = get<std::string>(root, "model", "$");
  d.spec = getOr<std::string>(root, "spec", "$", "");
  d.batch = get<int64_t>(root, "batch", "$");
  if (d.batch <= 0)
    fail("descriptor: batch must be positive, got {}", d.batch);

  const json &input = field(root, "input", "$");
  d.inputName = get<std::string>(input, "name", "$.input");
  d.inputShape = getShape(input, "shape", "$.input");
  if (d.inputShape.size() != 3)
    fail("descriptor: $.input.shape must be [H, W, C], got {}",
         toString(d.inputShape));

  const json &data = field(root, "data", "$");
  d.data.format = getOr<std::string>(data, "format", "$.data", "idx");
  if (d.data.format != "idx")
    fail("descriptor: $.data.format '{}' is not supported (expected idx)",
         d.data.format);
  d.data.dir = getOr<std::string>(data, "dir", "$.data", "");
  d.data.trainImages = get<std::string>(data, "train_images", "$.data");
  d.data.trainLabels = get<std::string>(data, "train_labels", "$.data");
  d.data.testImages = get<std::string>(data, "test_images", "$.data");
  d.data.testLabels = get<std::string>(data, "test_labels", "$.data");
  d.data.limitTrain = getOr<int64_t>(data, "limit_train", "$.data", 0);
  d.data.limitTest = getOr<int64_t>(data, "limit_test", "$.data", 0);

  const json &tasks = field(root, "tasks", "$");
  if (!tasks.is_array() || tasks.empty())
    fail("descriptor: $.tasks must be a non-empty array");
  std::set<std::string> taskNames;
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::string p = fmt::format("$.tasks[{}]", i);
    TaskSpec t;
    t.name = get<std::string>(tasks[i], "name", p);
    t.loss = get<std::string>(tasks[i], "loss", p);
    t.weight = getOr<double>(tasks[i], "weight", p, 1.0);
    t.target = get<std::string>(tasks[i], "target", p);
    if (t.target != "label" && t.target != "image")
      fail("descriptor: {}.target '{}' must be 'label' or 'image'", p,
           t.target);
    t.targetMap = getOr<std::vector<int>>(tasks[i], "target_map", p, {});
    t.metrics = getOr<std::vector<std::string>>(tasks[i], "metrics", p, {});
    for (const std::string &m : t.metrics)
      if (m != "accuracy" && m != "mse")
        fail("descriptor: {}.metrics: unknown metric '{}'", p, m);
    t.predictionShape = getShape(tasks[i], "prediction_shape", p);
    if (t.isClassification() && t.target != "label")
      fail("descriptor: {}: softmax_cross_entropy needs target 'label'", p);
    for (int c : t.targetMap)
      if (c < -1 || (t.isClassification() && c >= t.numClasses()))
        fail("descriptor: {}.target_map value {} is out of range", p, c);
    if (!taskNames.insert(t.name).second)
      fail("descriptor: duplicate task '{}'", t.name);
    d.tasks.push_back(std::move(t));
  }

  const json &params = field(root, "params", "$");
  if (!params.is_array())
    fail("descriptor: $.params must be an array");
  std::set<std::string> paramNames;
  for (size_t i = 0; i < params.size(); ++i) {
    std::string p = fmt::format("$.params[{}]", i);
    ParamSpec ps;
    ps.name = get<std::string>(params[i], "name", p);
    ps.shape = getShape(params[i], "shape", p);
    ps.init = get<std::string>(params[i], "init", p);
    if (ps.init != "he_normal" && ps.init != "glorot_uniform" &&
        ps.init != "zeros" && ps.init != "ones")
      fail("descriptor: {}.init: unknown initializer '{}'", p, ps.init);
    ps.fanIn = getOr<int64_t>(params[i], "fan_in", p, 0);
    ps.fanOut = getOr<int64_t>(params[i], "fan_out", p, 0);
    if ((ps.init == "he_normal" && ps.fanIn <= 0) ||
        (ps.init == "glorot_uniform" && ps.fanIn + ps.fanOut <= 0))
      fail("descriptor: {} ('{}'): {} needs positive fan_in/fan_out", p,
           ps.name, ps.init);
    if (!paramNames.insert(ps.name).second)
      fail("descriptor: duplicate parameter '{}'", ps.name);
    d.params.push_back(std::move(ps));
  }

  const json &train = field(root, "train", "$");
  d.train.optimizer = getOr<std::string>(train, "optimizer", "$.train", "adam");
  if (d.train.optimizer != "adam" && d.train.optimizer != "sgd")
    fail("descriptor: $.train.optimizer '{}' must be adam or sgd",
         d.train.optimizer);
  d.train.lr = getOr<double>(train, "lr", "$.train", 1e-3);
  d.train.momentum = getOr<double>(train, "momentum", "$.train", 0.0);
  d.train.beta1 = getOr<double>(train, "beta1", "$.train", 0.9);
  d.train.beta2 = getOr<double>(train, "beta2", "$.train", 0.999);
  d.train.eps = getOr<double>(train, "eps", "$.train", 1e-8);
  d.train.weightDecay = getOr<double>(train, "weight_decay", "$.train", 0.0);
  d.train.epochs = getOr<int64_t>(train, "epochs", "$.train", 1);
  d.train.seed = getOr<uint64_t>(train, "seed", "$.train", 1);

  const json &pipelines = field(root, "pipelines", "$");
  if (!pipelines.is_object())
    fail("descriptor: $.pipelines must be an object");
  for (auto it = pipelines.begin(); it != pipelines.end(); ++it) {
    std::string p = "$.pipelines." + it.key();
    PipelineSpec ps;
    ps.name = it.key();
    ps.args = parseTensors(getOr<json>(it.value(), "args", p, json::array()),
                           p + ".args");
    ps.outputs = parseTensors(
        getOr<json>(it.value(), "outputs", p, json::array()), p + ".outputs");
    d.pipelines[ps.name] = std::move(ps);
  }
  for (const auto &[name, ps] : d.pipelines) {
    for (size_t i = 0; i < ps.args.size(); ++i)
      checkTensor(d, ps.args[i], false,
                  fmt::format("$.pipelines.{}.args[{}]", name, i));
    for (size_t i = 0; i < ps.outputs.size(); ++i)
      checkTensor(d, ps.outputs[i], true,
                  fmt::format("$.pipelines.{}.outputs[{}]", name, i));
  }
  return d;
}

const PipelineSpec *Descriptor::pipeline(const std::string &name) const {
  auto it = pipelines.find(name);
  return it == pipelines.end() || it->second.empty() ? nullptr : &it->second;
}

const TaskSpec *Descriptor::task(const std::string &name) const {
  for (const TaskSpec &t : tasks)
    if (t.name == name)
      return &t;
  return nullptr;
}

const ParamSpec *Descriptor::param(const std::string &name) const {
  for (const ParamSpec &p : params)
    if (p.name == name)
      return &p;
  return nullptr;
}

int64_t Descriptor::numParamElements() const {
  int64_t n = 0;
  for (const ParamSpec &p : params)
    n += numElements(p.shape);
  return n;
}

} // namespace mtl::rt
