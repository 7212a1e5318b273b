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
  case ArgKind::State:
    return "state";
  case ArgKind::StateOut:
    return "state_out";
  case ArgKind::Seed:
    return "seed";
  case ArgKind::LossWeights:
    return "loss_weights";
  case ArgKind::TaskGrad:
    return "task_grad";
  }
  return "?";
}

int64_t TaskSpec::numClasses() const {
  return predictionShape.empty() ? 1 : predictionShape.back();
}

bool TaskSpec::predictsLogits() const {
  return loss == "sigmoid_cross_entropy" || loss == "binary_cross_entropy" ||
         loss == "sigmoid_bce";
}

int topK(const std::string &metric) {
  if (metric.size() < 4 || metric.compare(0, 3, "top") != 0 ||
      metric.size() > 9)
    return 0;
  int k = 0;
  for (size_t i = 3; i < metric.size(); ++i) {
    if (metric[i] < '0' || metric[i] > '9')
      return 0;
    k = k * 10 + (metric[i] - '0');
  }
  return metric[3] == '0' ? 0 : k;
}

bool isKnownMetric(const std::string &m) {
  return m == "accuracy" || topK(m) > 0 || m == "iou" || m == "mse" ||
         m == "mae" || m == "psnr";
}

Shape sourceInputShape(const std::string &source) {
  if (source == "fashion-detect")
    return {40, 40, 1};
  if (source == "multi-fashion")
    return {36, 36, 1};
  if (source == "sequential")
    return {28, 28};
  return {};
}

std::vector<FieldSpec> sourceFields(const std::string &source,
                                    const Shape &inputShape) {
  FieldSpec image{"image", DType::F32, inputShape, 0};
  auto cls = [](const char *name, int64_t classes) {
    return FieldSpec{name, DType::I32, {}, classes};
  };
  if (source == "idx" || source == "npy" || source == "csv")
    return {cls("label", 0), image};
  if (source == "fashion-detect")
    return {cls("label", 10), cls("group", 4),
            FieldSpec{"box", DType::F32, {4}, 0},
            FieldSpec{"item", DType::F32, {28, 28, 1}, 0}, image};
  if (source == "multi-fashion")
    return {cls("left", 10), cls("right", 10), image};
  if (source == "sequential")
    return {cls("label", 10), cls("group", 4), image};
  return {};
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
      {"input", ArgKind::Input},
      {"target", ArgKind::Target},
      {"mask", ArgKind::Mask},
      {"param", ArgKind::Param},
      {"loss", ArgKind::Loss},
      {"prediction", ArgKind::Prediction},
      {"grad", ArgKind::Grad},
      {"state", ArgKind::State},
      {"state_out", ArgKind::StateOut},
      {"seed", ArgKind::Seed},
      {"loss_weights", ArgKind::LossWeights},
      {"task_grad", ArgKind::TaskGrad}};
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
    t.task = getOr<std::string>(list[i], "task", p, "");
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
                    t.kind == ArgKind::Grad || t.kind == ArgKind::StateOut ||
                    t.kind == ArgKind::TaskGrad;
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
  case ArgKind::State:
  case ArgKind::StateOut: {
    const StateSpec *state = d.state(t.name);
    if (!state)
      fail("descriptor: {}: unknown state '{}'", path, t.name);
    return expect(state->shape, DType::F32);
  }
  case ArgKind::Seed:
    return expect({}, DType::I32);
  case ArgKind::LossWeights:
    return expect({static_cast<int64_t>(d.tasks.size())}, DType::F32);
  case ArgKind::TaskGrad:
    if (!param)
      fail("descriptor: {}: unknown parameter '{}'", path, t.name);
    if (!d.task(t.task))
      fail("descriptor: {}: unknown task '{}'", path, t.task);
    return expect(param->shape, DType::F32);
  default:
    break;
  }
  if (!task)
    fail("descriptor: {}: unknown task '{}'", path, t.name);
  const FieldSpec *field = d.targetField(*task);
  switch (t.kind) {
  case ArgKind::Target:
    if (field && field->dtype == DType::F32) {
      // The field in any shape with its element count, row-major (a dense
      // head reconstructs a flattened image).
      if (!t.shape.empty() && t.shape[0] == d.batch &&
          numElements(t.shape) == d.batch * numElements(field->shape))
        return expect(t.shape, DType::F32);
      return expect(batched(d.batch, field->shape), DType::F32);
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
  if (d.inputShape.empty())
    fail("descriptor: $.input.shape must not be empty");

  const json &data = field(root, "data", "$");
  DataSpec &ds = d.data;
  ds.source =
      getOr<std::string>(data, "source", "$.data",
                         getOr<std::string>(data, "format", "$.data", "idx"));
  if (sourceFields(ds.source, {}).empty())
    fail("descriptor: $.data.source '{}' is not supported (expected idx, npy, "
         "csv, fashion-detect, multi-fashion or sequential)",
         ds.source);
  ds.dir = getOr<std::string>(data, "dir", "$.data", "");
  if (ds.source == "csv") {
    ds.trainFile = get<std::string>(data, "train_file", "$.data");
    ds.testFile = get<std::string>(data, "test_file", "$.data");
    const json *col =
        data.contains("label_column") ? &data["label_column"] : nullptr;
    if (col && col->is_number_integer())
      ds.labelColumn = std::to_string(col->get<int64_t>());
    else if (col && col->is_string())
      ds.labelColumn = col->get<std::string>();
    else if (col && !col->is_null())
      fail("descriptor: field '$.data.label_column' must be an integer or a "
           "string");
  } else {
    ds.trainImages = get<std::string>(data, "train_images", "$.data");
    ds.trainLabels = get<std::string>(data, "train_labels", "$.data");
    ds.testImages = get<std::string>(data, "test_images", "$.data");
    ds.testLabels = get<std::string>(data, "test_labels", "$.data");
  }
  ds.scale = getOr<double>(data, "scale", "$.data", 0.0);
  ds.limitTrain = getOr<int64_t>(data, "limit_train", "$.data", 0);
  ds.limitTest = getOr<int64_t>(data, "limit_test", "$.data", 0);
  ds.validation = getOr<double>(data, "validation", "$.data", 0.0);
  if (!(ds.validation >= 0.0 && ds.validation < 1.0))
    fail("descriptor: $.data.validation {} must be in [0, 1)", ds.validation);
  ds.seed = getOr<uint64_t>(data, "seed", "$.data", 1);
  if (data.contains("augment") && !data["augment"].is_null()) {
    const json &a = data["augment"];
    const std::string p = "$.data.augment";
    ds.augment.shift = getOr<int64_t>(a, "shift", p, 0);
    ds.augment.flip = getOr<bool>(a, "flip", p, false);
    ds.augment.noise = getOr<double>(a, "noise", p, 0.0);
    ds.augment.rotate = getOr<double>(a, "rotate", p, 0.0);
    if (ds.augment.shift < 0 || ds.augment.noise < 0 || ds.augment.rotate < 0 ||
        ds.augment.rotate > 180)
      fail("descriptor: {} has a negative or out-of-range value", p);
  }
  Shape generatedShape = sourceInputShape(ds.source);
  if (!generatedShape.empty() && generatedShape != d.inputShape) {
    // [28, 28] and [28, 28, 1] are the same data.
    Shape a = generatedShape, b = d.inputShape;
    while (a.size() > 1 && a.back() == 1)
      a.pop_back();
    while (b.size() > 1 && b.back() == 1)
      b.pop_back();
    if (a != b)
      fail("descriptor: data source '{}' produces inputs of shape {}, but "
           "$.input.shape is {}",
           ds.source, toString(generatedShape), toString(d.inputShape));
  }
  d.fields = sourceFields(ds.source, d.inputShape);

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
    // A task without a target (kl_divergence) reads no data field.
    t.target = getOr<std::string>(tasks[i], "target", p, "");
    const FieldSpec *field = d.targetField(t);
    static const FieldSpec kNoField{"", DType::F32, {}, 0};
    if (!field && t.target.empty())
      field = &kNoField;
    if (!field) {
      std::vector<std::string> names;
      for (const FieldSpec &f : d.fields)
        names.push_back(f.name);
      fail("descriptor: {}.target '{}' is not a field of data source '{}' "
           "(fields: {})",
           p, t.target, d.data.source, fmt::join(names, ", "));
    }
    t.targetMap = getOr<std::vector<int>>(tasks[i], "target_map", p, {});
    t.metrics = getOr<std::vector<std::string>>(tasks[i], "metrics", p, {});
    for (const std::string &m : t.metrics)
      if (!isKnownMetric(m))
        fail("descriptor: {}.metrics: unknown metric '{}'", p, m);
    t.predictionShape = getShape(tasks[i], "prediction_shape", p);
    t.labelFraction = getOr<double>(tasks[i], "label_fraction", p, 1.0);
    if (!(t.labelFraction > 0.0 && t.labelFraction <= 1.0))
      fail("descriptor: {}.label_fraction {} must be in (0, 1]", p,
           t.labelFraction);
    if (t.isClassification() && field->dtype != DType::I32)
      fail("descriptor: {}: softmax_cross_entropy needs a class-id target, "
           "'{}' is a float field",
           p, t.target);
    if (!t.targetMap.empty() && field->dtype != DType::I32)
      fail("descriptor: {}: target_map needs a class-id target", p);
    for (const std::string &m : t.metrics) {
      bool classMetric = m == "accuracy" || topK(m) > 0;
      if (classMetric && !t.isClassification())
        fail("descriptor: {}.metrics: '{}' needs a classification task", p, m);
      if (!classMetric && t.isClassification())
        fail("descriptor: {}.metrics: '{}' needs a regression task", p, m);
      if (topK(m) > t.numClasses())
        fail("descriptor: {}.metrics: '{}' with only {} classes", p, m,
             t.numClasses());
      if (m == "iou" && numElements(t.predictionShape) != 4)
        fail("descriptor: {}.metrics: 'iou' needs 4 values per sample (x0, "
             "y0, x1, y1), the prediction is {}",
             p, toString(t.predictionShape));
    }
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
        ps.init != "zeros" && ps.init != "ones" &&
        ps.init.rfind("values:", 0) != 0) // checked by initParam
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

  if (root.contains("states") && !root["states"].is_null()) {
    const json &states = root["states"];
    if (!states.is_array())
      fail("descriptor: $.states must be an array");
    std::set<std::string> stateNames;
    for (size_t i = 0; i < states.size(); ++i) {
      std::string p = fmt::format("$.states[{}]", i);
      StateSpec st;
      st.name = get<std::string>(states[i], "name", p);
      st.shape = getShape(states[i], "shape", p);
      st.init = getOr<std::string>(states[i], "init", p, "zeros");
      if (st.init != "zeros" && st.init != "ones")
        fail("descriptor: {}.init: unknown state initializer '{}' (expected "
             "zeros or ones)",
             p, st.init);
      if (!stateNames.insert(st.name).second)
        fail("descriptor: duplicate state '{}'", st.name);
      d.states.push_back(std::move(st));
    }
  }

  const json &train = field(root, "train", "$");
  d.train.optimizer = getOr<std::string>(train, "optimizer", "$.train", "adam");
  if (d.train.optimizer != "adam" && d.train.optimizer != "sgd")
    fail("descriptor: $.train.optimizer '{}' must be adam or sgd",
         d.train.optimizer);
  d.train.lr = getOr<double>(train, "lr", "$.train", 1e-3);
  d.train.warmup = getOr<int64_t>(train, "warmup", "$.train", 0);
  if (d.train.warmup < 0)
    fail("descriptor: $.train.warmup must be >= 0, got {}", d.train.warmup);
  d.train.lrSchedule =
      getOr<std::string>(train, "lr_schedule", "$.train", "constant");
  if (d.train.lrSchedule != "constant" && d.train.lrSchedule != "cosine" &&
      d.train.lrSchedule != "step")
    fail("descriptor: $.train.lr_schedule '{}' must be constant, cosine or "
         "step",
         d.train.lrSchedule);
  d.train.minLr = getOr<double>(train, "min_lr", "$.train", 0.0);
  d.train.stepEpochs = getOr<int64_t>(train, "step_epochs", "$.train", 1);
  d.train.gamma = getOr<double>(train, "gamma", "$.train", 0.1);
  if (d.train.minLr < 0 || d.train.stepEpochs < 1 || d.train.gamma <= 0)
    fail("descriptor: $.train: min_lr must be >= 0, step_epochs >= 1 and "
         "gamma > 0");
  d.train.momentum = getOr<double>(train, "momentum", "$.train", 0.0);
  d.train.beta1 = getOr<double>(train, "beta1", "$.train", 0.9);
  d.train.beta2 = getOr<double>(train, "beta2", "$.train", 0.999);
  d.train.eps = getOr<double>(train, "eps", "$.train", 1e-8);
  d.train.weightDecay = getOr<double>(train, "weight_decay", "$.train", 0.0);
  d.train.epochs = getOr<int64_t>(train, "epochs", "$.train", 1);
  d.train.seed = getOr<uint64_t>(train, "seed", "$.train", 1);

  if (root.contains("strategy")) {
    const json &st = root["strategy"];
    StrategySpec &s = d.strategy;
    s.weighting = getOr<std::string>(st, "weighting", "$.strategy", "static");
    s.gradient = getOr<std::string>(st, "gradient", "$.strategy", "none");
    s.on = getOr<std::string>(st, "on", "$.strategy", "rep");
    s.dwaTemperature = getOr<double>(st, "dwa_temperature", "$.strategy", 2.0);
    s.gradnormAlpha = getOr<double>(st, "gradnorm_alpha", "$.strategy", 1.5);
    s.cagradC = getOr<double>(st, "cagrad_c", "$.strategy", 0.5);
  }

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

const StateSpec *Descriptor::state(const std::string &name) const {
  for (const StateSpec &s : states)
    if (s.name == name)
      return &s;
  return nullptr;
}

const FieldSpec *Descriptor::targetField(const TaskSpec &t) const {
  for (const FieldSpec &f : fields)
    if (f.name == t.target)
      return &f;
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
