//===- MLIRGen.cpp - Spec AST to the mtl dialect --------------------------===//
#include "frontend/MLIRGen.h"
#include "ir/MtlOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mtl;

namespace {

/// The runtime initializer of a layer's bias: zeros, or the spec's
/// `bias_init` as "values:v1,v2,..." (one value broadcasts).
std::string biasInit(const spec::Layer &layer) {
  if (layer.biasInit.empty())
    return "zeros";
  std::string s = "values:";
  for (size_t i = 0; i < layer.biasInit.size(); ++i)
    s += (i ? "," : "") + std::to_string(layer.biasInit[i]);
  return s;
}

class Generator {
public:
  Generator(MLIRContext &ctx, const spec::Spec &spec)
      : ctx(ctx), spec(spec), b(&ctx) {}

  OwningOpRef<ModuleOp> run() {
    OwningOpRef<ModuleOp> module = ModuleOp::create(loc(spec.input.loc));
    b.setInsertionPointToEnd(module->getBody());
    auto fn = b.create<func::FuncOp>(loc(spec.input.loc), "model",
                                     b.getFunctionType({}, {}));
    b.setInsertionPointToStart(fn.addEntryBlock());

    const spec::Input &in = spec.input;
    SmallVector<int64_t> shape{batch()};
    shape.append(in.shape.begin(), in.shape.end());
    Value x = b.create<InputOp>(loc(in.loc), f32(shape), in.name);
    values[in.name] = x; // layers and heads may read the input by name
    collectLayerDefs();
    Value last = x;
    for (const spec::Layer &layer : spec.backbone)
      if (!(last = layer_(layer, last)))
        return nullptr;
    for (const spec::Task &task : spec.tasks)
      if (failed(task_(task, last)))
        return nullptr;
    b.create<func::ReturnOp>(loc(spec.input.loc));
    return module;
  }

private:
  int64_t batch() const { return spec.train.batch; }
  Type f32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getF32Type());
  }
  Type unranked() { return UnrankedTensorType::get(b.getF32Type()); }

  Location loc(const spec::SourceLoc &l) {
    if (l.file.empty())
      return UnknownLoc::get(&ctx);
    return FileLineColLoc::get(&ctx, l.file, l.line, l.col);
  }
  Location keyLoc(const spec::Layer &layer, const char *key) {
    auto it = layer.keyLocs.find(key);
    return loc(it == layer.keyLocs.end() ? layer.loc : it->second);
  }

  static ArrayRef<int64_t> shapeOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }

  /// Where each layer is defined and what it reads when it has no `input`:
  /// the previous layer of its list, for a head's first layer the task's
  /// `from` (or the backbone output). Lets a head read a layer of a head
  /// that comes later in the file: `value` emits it on demand (the parser
  /// has rejected cycles).
  struct LayerDef {
    const spec::Layer *layer;
    std::string prev;
  };
  llvm::StringMap<LayerDef> layerDefs;
  llvm::StringSet<> inProgress;

  void collectLayerDefs() {
    std::string prev = spec.input.name;
    for (const spec::Layer &l : spec.backbone) {
      layerDefs[l.name] = {&l, prev};
      prev = l.name;
    }
    const std::string backboneOut = prev;
    for (const spec::Task &task : spec.tasks) {
      std::string p = task.from.empty() ? backboneOut : task.from;
      for (const spec::Layer &l : task.head) {
        layerDefs[l.name] = {&l, p};
        p = l.name;
      }
    }
  }

  /// The value of layer (or input) `name`, emitting it and what it reads if
  /// needed. Null (with an error at `where`) if there is no such layer.
  Value value(StringRef name, Location where) {
    auto it = values.find(name);
    if (it != values.end())
      return it->second;
    auto def = layerDefs.find(name);
    if (def == layerDefs.end() || inProgress.contains(name)) {
      emitError(where) << (def == layerDefs.end() ? "unknown layer '"
                                                  : "cyclic read of layer '")
                       << name << "'";
      return nullptr;
    }
    inProgress.insert(name);
    const spec::Layer &l = *def->second.layer;
    Value prev;
    if (l.inputs.empty() && !(prev = value(def->second.prev, loc(l.loc))))
      return nullptr;
    Value v = layer_(l, prev);
    inProgress.erase(name);
    return v;
  }

  /// Emits one layer reading `prev` (or its named inputs) and records it;
  /// a layer already emitted (read early by another head) is reused.
  Value layer_(const spec::Layer &layer, Value prev) {
    if (auto it = values.find(layer.name); it != values.end())
      return it->second;
    SmallVector<Value> inputs;
    for (size_t k = 0; k < layer.inputs.size(); ++k) {
      Location where = k < layer.inputLocs.size() ? loc(layer.inputLocs[k])
                                                  : keyLoc(layer, "input");
      Value v = value(layer.inputs[k], where);
      if (!v)
        return nullptr;
      inputs.push_back(v);
    }
    if (inputs.empty())
      inputs.push_back(prev);
    Value input = inputs.front();
    Location l = loc(layer.loc);
    ArrayRef<int64_t> in = shapeOf(input);
    auto i64s = [&](ArrayRef<int64_t> v) { return b.getDenseI64ArrayAttr(v); };
    // A pool's padding attribute only where the spec pads (absent = 0).
    auto poolPadding = [&](const spec::Layer &layer) {
      bool pads = llvm::any_of(layer.padding, [](int64_t p) { return p > 0; });
      return pads ? b.getDenseI64ArrayAttr(layer.padding) : DenseI64ArrayAttr();
    };
    auto needNHWC = [&]() {
      if (in.size() == 4)
        return true;
      emitError(l) << layer.op
                   << " expects an NHWC input of rank 4, got a tensor of "
                      "rank "
                   << in.size() << "; a " << layer.op
                   << " cannot follow a flatten or dense layer";
      return false;
    };
    Operation *op = nullptr;
    if (layer.op == "conv2d") {
      if (!needNHWC())
        return nullptr;
      int64_t groups = layer.groups;
      if (in[3] % groups != 0) {
        emitError(keyLoc(layer, "groups"))
            << "conv2d groups = " << groups
            << " must divide the input channels, got " << in[3];
        return nullptr;
      }
      int64_t kh = layer.kernel[0], kw = layer.kernel[1];
      Value w = param(layer.name + ".weight",
                      {kh, kw, in[3] / groups, layer.filters}, "he_normal", l);
      Value bias = layer.bias ? param(layer.name + ".bias", {layer.filters},
                                      biasInit(layer), l)
                              : Value();
      bool plain =
          groups == 1 && (layer.dilation.empty() ||
                          layer.dilation == std::vector<int64_t>{1, 1});
      op = b.create<Conv2DOp>(l, unranked(), input, w, bias, i64s(layer.stride),
                              i64s(layer.padding),
                              plain ? nullptr : i64s(layer.dilation),
                              plain ? nullptr : b.getI64IntegerAttr(groups));
    } else if (layer.op == "conv_transpose2d") {
      if (!needNHWC())
        return nullptr;
      int64_t kh = layer.kernel[0], kw = layer.kernel[1];
      Value w = param(layer.name + ".weight", {kh, kw, layer.filters, in[3]},
                      "he_normal", l);
      Value bias = layer.bias ? param(layer.name + ".bias", {layer.filters},
                                      biasInit(layer), l)
                              : Value();
      op = b.create<ConvTranspose2DOp>(l, unranked(), input, w, bias,
                                       i64s(layer.stride), i64s(layer.padding),
                                       i64s(layer.outputPadding));
    } else if (layer.op == "dense") {
      if (in.size() != 2) {
        emitError(l) << "dense expects an input [batch, features] of rank 2, "
                        "got a tensor of rank "
                     << in.size() << "; add a 'flatten' layer before it";
        return nullptr;
      }
      Value w =
          param(layer.name + ".weight", {in[1], layer.units}, "he_normal", l);
      Value bias = layer.bias ? param(layer.name + ".bias", {layer.units},
                                      biasInit(layer), l)
                              : Value();
      op = b.create<DenseOp>(l, unranked(), input, w, bias);
    } else if (layer.op == "relu") {
      op = b.create<ReluOp>(l, unranked(), input);
    } else if (layer.op == "leaky_relu") {
      op = b.create<LeakyReluOp>(l, unranked(), input,
                                 b.getF64FloatAttr(layer.alpha));
    } else if (layer.op == "sigmoid") {
      op = b.create<SigmoidOp>(l, unranked(), input);
    } else if (layer.op == "tanh") {
      op = b.create<TanhOp>(l, unranked(), input);
    } else if (layer.op == "gelu") {
      op = b.create<GeluOp>(l, unranked(), input);
    } else if (layer.op == "softmax") {
      op = b.create<SoftmaxOp>(l, unranked(), input);
    } else if (layer.op == "layer_norm") {
      int64_t c = in.back();
      Value gamma = param(layer.name + ".gamma", {c}, "ones", l);
      Value beta = param(layer.name + ".beta", {c}, "zeros", l);
      op = b.create<LayerNormOp>(l, unranked(), input, gamma, beta,
                                 b.getF64FloatAttr(layer.eps));
    } else if (layer.op == "max_pool") {
      op = b.create<MaxPoolOp>(l, unranked(), input, i64s(layer.kernel),
                               i64s(layer.stride), poolPadding(layer));
    } else if (layer.op == "avg_pool") {
      op = b.create<AvgPoolOp>(l, unranked(), input, i64s(layer.kernel),
                               i64s(layer.stride), poolPadding(layer));
    } else if (layer.op == "global_avg_pool") {
      op = b.create<GlobalAvgPoolOp>(l, unranked(), input);
    } else if (layer.op == "upsample") {
      op = b.create<UpsampleOp>(l, unranked(), input, i64s(layer.scale),
                                b.getStringAttr(layer.mode));
    } else if (layer.op == "flatten") {
      op = b.create<FlattenOp>(l, unranked(), input);
    } else if (layer.op == "reshape") {
      int64_t have = 1, want = 1;
      for (int64_t d : in.drop_front())
        have *= d;
      std::vector<int64_t> dims = layer.shape;
      auto inferred = llvm::find(dims, -1);
      for (int64_t d : dims)
        want *= d == -1 ? 1 : d;
      if (inferred != dims.end() && want > 0 && have % want == 0)
        *inferred = have / want, want = have; // PyTorch's view(-1)
      if (have != want) {
        emitError(keyLoc(layer, "shape"))
            << "reshape to " << describeShape(layer.shape)
            << (inferred != dims.end() ? " needs a multiple of " : " needs ")
            << want << " values per sample, but its input " << describeShape(in)
            << " has " << have << " per sample";
        return nullptr;
      }
      SmallVector<int64_t> shape{in.front()};
      shape.append(dims.begin(), dims.end());
      op = b.create<ReshapeOp>(l, f32(shape), input);
    } else if (layer.op == "lstm" || layer.op == "gru") {
      // A sequence [N, T, F]; an image [N, H, W, C] is read row by row
      // (T = H steps of F = W * C features).
      if (in.size() == 4) {
        input =
            b.create<ReshapeOp>(l, f32({in[0], in[1], in[2] * in[3]}), input);
        in = shapeOf(input);
      }
      if (in.size() != 3) {
        emitError(l) << layer.op
                     << " expects a sequence [batch, time, features] or an "
                        "image [batch, H, W, C] (read row by row), got a "
                        "tensor of rank "
                     << in.size();
        return nullptr;
      }
      const int64_t H = layer.units, G = (layer.op == "lstm" ? 4 : 3) * H;
      Value wi =
          param(layer.name + ".w_input", {in[2], G}, "glorot_uniform", l);
      Value wh = param(layer.name + ".w_hidden", {H, G}, "glorot_uniform", l);
      auto seq = b.getBoolAttr(layer.returnSequences);
      if (layer.op == "lstm") {
        Value bias = param(layer.name + ".bias", {G}, "zeros", l);
        op = b.create<LstmOp>(l, unranked(), input, wi, wh, bias, seq);
      } else {
        Value bi = param(layer.name + ".bias_input", {G}, "zeros", l);
        Value bh = param(layer.name + ".bias_hidden", {G}, "zeros", l);
        op = b.create<GruOp>(l, unranked(), input, wi, wh, bi, bh, seq);
      }
    } else if (layer.op == "batch_norm") {
      if (in.size() < 2) {
        emitError(l) << "batch_norm expects an input [batch, ..., channels] "
                        "of rank >= 2, got a tensor of rank "
                     << in.size();
        return nullptr;
      }
      // Statistics per channel (the last axis); running statistics are
      // states, updated by the train step (training expansion).
      int64_t c = in.back();
      Value gamma = param(layer.name + ".gamma", {c}, "ones", l);
      Value beta = param(layer.name + ".beta", {c}, "zeros", l);
      Value mean =
          b.create<StateOp>(l, f32({c}), layer.name + ".running_mean", "zeros");
      Value var =
          b.create<StateOp>(l, f32({c}), layer.name + ".running_var", "ones");
      op = b.create<BatchNormOp>(l, unranked(), input, gamma, beta, mean, var,
                                 b.getF64FloatAttr(layer.momentum),
                                 b.getF64FloatAttr(layer.eps),
                                 b.getBoolAttr(false));
    } else if (layer.op == "dropout") {
      op = b.create<DropoutOp>(
          l, unranked(), input, seed(l), b.getF64FloatAttr(layer.rate),
          b.getI64IntegerAttr(stream(layer.name)), b.getBoolAttr(false));
    } else if (layer.op == "reparameterize") {
      if (inputs.size() != 2) {
        emitError(keyLoc(layer, "input"))
            << "reparameterize reads two layers (mean, logvar)";
        return nullptr;
      }
      op = b.create<ReparameterizeOp>(
          l, unranked(), inputs[0], inputs[1], seed(l),
          b.getI64IntegerAttr(stream(layer.name)), b.getBoolAttr(false));
    } else if (layer.op == "concat") {
      op = b.create<ConcatOp>(l, unranked(), inputs);
    } else if (layer.op == "add") {
      op = b.create<AddOp>(l, unranked(), inputs);
    } else {
      emitError(keyLoc(layer, "op")) << "unknown op '" << layer.op << "'";
      return nullptr;
    }
    if (isa<ShapeInference>(op) && failed(inferResultTypeInPlace(op)))
      return nullptr;
    values[layer.name] = op->getResult(0);
    return op->getResult(0);
  }

  /// The step's seed (one mtl.seed, emitted at its first use).
  Value seed(Location l) {
    if (!seedValue)
      seedValue =
          b.create<SeedOp>(l, RankedTensorType::get({}, b.getI32Type()));
    return seedValue;
  }
  Value seedValue;

  /// The noise stream of a layer: a hash of its (unique) name, so layers
  /// draw independent noise and the draw does not depend on file order.
  static int64_t stream(StringRef name) {
    uint32_t h = 2166136261u; // FNV-1a
    for (char ch : name)
      h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
    return h & 0x7fffffff;
  }

  Value param(const std::string &name, ArrayRef<int64_t> shape, StringRef init,
              Location l) {
    return b.create<ParamOp>(l, f32(shape), name, init);
  }

  LogicalResult task_(const spec::Task &task, Value backboneOut) {
    Location l = loc(task.loc);
    auto keyLoc = [&](const char *key) {
      auto it = task.keyLocs.find(key);
      return loc(it == task.keyLocs.end() ? task.loc : it->second);
    };
    if (task.loss == "kl_divergence")
      return klTask(task, l, keyLoc);
    Value v = backboneOut;
    if (!task.from.empty() && !(v = value(task.from, keyLoc("from"))))
      return failure();
    for (const spec::Layer &layer : task.head)
      if (!(v = layer_(layer, v)))
        return failure();
    ArrayRef<int64_t> pred = shapeOf(v);
    Value mask = b.create<MaskOp>(l, f32({batch()}), task.name);
    Value loss;
    if (task.loss == "softmax_cross_entropy") {
      if (pred.size() != 2)
        return emitError(l) << "task '" << task.name
                            << "': softmax_cross_entropy needs the head to "
                               "output [batch, classes], got rank "
                            << pred.size()
                            << "; end the head with a dense "
                               "layer";
      for (int64_t c : task.targetMap)
        if (c >= pred[1])
          return emitError(keyLoc("target_map"))
                 << "task '" << task.name << "': target_map maps to class " << c
                 << " but the head outputs " << pred[1] << " classes";
      Value target = b.create<TargetOp>(
          l, RankedTensorType::get({batch()}, b.getI32Type()), task.name);
      loss = b.create<SoftmaxCrossEntropyOp>(
          l, unranked(), v, target, mask,
          b.getF64FloatAttr(task.labelSmoothing));
    } else if (task.loss == "iou" || task.loss == "giou") {
      if (pred.size() != 2 || pred[1] != 4)
        return emitError(l) << "task '" << task.name << "': loss '" << task.loss
                            << "' needs the head to output boxes [batch, 4] "
                               "(x0, y0, x1, y1), got "
                            << batchShape(pred)
                            << "; end the head with a dense layer of 4 units";
      Value target = b.create<TargetOp>(l, v.getType(), task.name);
      if (task.loss == "iou")
        loss = b.create<IouLossOp>(l, unranked(), v, target, mask);
      else
        loss = b.create<GiouLossOp>(l, unranked(), v, target, mask);
    } else if (task.loss == "mse" || task.loss == "sigmoid_cross_entropy" ||
               task.loss == "l1" || task.loss == "smooth_l1") {
      // An image target is fed in the prediction's shape: same elements,
      // row-major, so a dense head can reconstruct a flattened image.
      int64_t perSample = 1, imageSize = 1;
      for (int64_t d : pred.drop_front())
        perSample *= d;
      for (int64_t d : spec.input.shape)
        imageSize *= d;
      if (task.target == "image" && perSample != imageSize)
        return emitError(keyLoc("target"))
               << "task '" << task.name << "' predicts " << perSample
               << " values per sample but its target 'image' has " << imageSize;
      Value target = b.create<TargetOp>(l, v.getType(), task.name);
      if (task.loss == "mse")
        loss = b.create<MseOp>(l, unranked(), v, target, mask);
      else if (task.loss == "sigmoid_cross_entropy")
        loss = b.create<SigmoidCrossEntropyOp>(l, unranked(), v, target, mask);
      else if (task.loss == "l1")
        loss = b.create<L1Op>(l, unranked(), v, target, mask);
      else
        loss = b.create<SmoothL1Op>(l, unranked(), v, target, mask,
                                    b.getF64FloatAttr(task.beta));
    } else {
      return emitError(keyLoc("loss")) << "unknown loss '" << task.loss << "'";
    }
    if (failed(inferResultTypeInPlace(loss.getDefiningOp())))
      return failure();
    b.create<TaskOp>(l, b.getStringAttr(task.name), loss, v,
                     b.getF64FloatAttr(task.weight));
    return success();
  }

  /// "[a, b, c]".
  static std::string describeShape(ArrayRef<int64_t> shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
      s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
  /// "[batch, b, c]" for a tensor [N, b, c].
  static std::string batchShape(ArrayRef<int64_t> shape) {
    std::string s = "[batch";
    for (int64_t d : shape.drop_front())
      s += ", " + std::to_string(d);
    return s + "]";
  }

  /// A kl_divergence task: the KL of N(mean, exp(logvar)) to N(0, I) of two
  /// backbone layers; its prediction is the mean.
  template <typename KeyLoc>
  LogicalResult klTask(const spec::Task &task, Location l, KeyLoc keyLoc) {
    Value mean, logvar;
    for (auto [key, name, out] :
         {std::tuple{"mean", &task.mean, &mean},
          std::tuple{"logvar", &task.logvar, &logvar}}) {
      auto it = values.find(*name);
      if (it == values.end())
        return emitError(keyLoc(key))
               << "task '" << task.name << "' reads unknown layer '" << *name
               << "'";
      *out = it->second;
    }
    ArrayRef<int64_t> m = shapeOf(mean), lv = shapeOf(logvar);
    if (m.size() != 2)
      return emitError(keyLoc("mean"))
             << "task '" << task.name
             << "': kl_divergence needs a mean [batch, latent], got '"
             << task.mean << "' of shape " << batchShape(m)
             << "; use a dense layer";
    if (lv != m)
      return emitError(keyLoc("logvar"))
             << "task '" << task.name << "': logvar '" << task.logvar
             << "' has shape " << batchShape(lv) << " but mean '" << task.mean
             << "' has " << batchShape(m);
    Value mask = b.create<MaskOp>(l, f32({batch()}), task.name);
    Value loss = b.create<KlDivergenceOp>(l, unranked(), mean, logvar, mask);
    if (failed(inferResultTypeInPlace(loss.getDefiningOp())))
      return failure();
    b.create<TaskOp>(l, b.getStringAttr(task.name), loss, mean,
                     b.getF64FloatAttr(task.weight));
    return success();
  }

  MLIRContext &ctx;
  const spec::Spec &spec;
  OpBuilder b;
  llvm::StringMap<Value> values;
};
} // namespace

OwningOpRef<ModuleOp> mtl::mlirGen(MLIRContext &context,
                                   const spec::Spec &spec) {
  context.loadDialect<MtlDialect, func::FuncDialect>();
  // Shape errors are read by spec authors: the layer's location, no IR dump.
  context.printOpOnDiagnostic(false);
  return Generator(context, spec).run();
}
