//===- MLIRGen.cpp - Spec AST to the mtl dialect --------------------------===//
#include "frontend/MLIRGen.h"
#include "ir/MtlOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mtl;

namespace {
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

  /// Emits one layer reading `prev` (or its named input) and records it.
  Value layer_(const spec::Layer &layer, Value prev) {
    Value input = prev;
    if (!layer.inputs.empty()) {
      auto it = values.find(layer.inputs.front());
      if (it == values.end()) {
        emitError(keyLoc(layer, "input"))
            << "layer '" << layer.name << "' reads unknown layer '"
            << layer.inputs.front() << "'";
        return nullptr;
      }
      input = it->second;
    }
    Location l = loc(layer.loc);
    ArrayRef<int64_t> in = shapeOf(input);
    Operation *op = nullptr;
    if (layer.op == "conv2d") {
      if (in.size() != 4) {
        emitError(l) << "conv2d expects an NHWC input of rank 4, got a "
                        "tensor of rank "
                     << in.size()
                     << "; a conv2d cannot follow a flatten or dense layer";
        return nullptr;
      }
      int64_t kh = layer.kernel[0], kw = layer.kernel[1];
      Value w = param(layer.name + ".weight", {kh, kw, in[3], layer.filters},
                      "he_normal", l);
      Value bias =
          layer.bias ? param(layer.name + ".bias", {layer.filters}, "zeros", l)
                     : Value();
      op = b.create<Conv2DOp>(l, unranked(), input, w, bias,
                              b.getDenseI64ArrayAttr(layer.stride),
                              b.getDenseI64ArrayAttr(layer.padding));
    } else if (layer.op == "dense") {
      if (in.size() != 2) {
        emitError(l) << "dense expects an input [batch, features] of rank 2, "
                        "got a tensor of rank "
                     << in.size() << "; add a 'flatten' layer before it";
        return nullptr;
      }
      Value w =
          param(layer.name + ".weight", {in[1], layer.units}, "he_normal", l);
      Value bias = layer.bias
                       ? param(layer.name + ".bias", {layer.units}, "zeros", l)
                       : Value();
      op = b.create<DenseOp>(l, unranked(), input, w, bias);
    } else if (layer.op == "relu") {
      op = b.create<ReluOp>(l, unranked(), input);
    } else if (layer.op == "max_pool") {
      op = b.create<MaxPoolOp>(l, unranked(), input,
                               b.getDenseI64ArrayAttr(layer.kernel),
                               b.getDenseI64ArrayAttr(layer.stride));
    } else if (layer.op == "flatten") {
      op = b.create<FlattenOp>(l, unranked(), input);
    } else {
      emitError(keyLoc(layer, "op")) << "unknown op '" << layer.op << "'";
      return nullptr;
    }
    if (failed(inferResultTypeInPlace(op)))
      return nullptr;
    values[layer.name] = op->getResult(0);
    return op->getResult(0);
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
    Value v = backboneOut;
    if (!task.from.empty()) {
      auto it = values.find(task.from);
      if (it == values.end())
        return emitError(keyLoc("from"))
               << "task '" << task.name << "' reads unknown layer '"
               << task.from << "'";
      v = it->second;
    }
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
      loss = b.create<SoftmaxCrossEntropyOp>(l, unranked(), v, target, mask);
    } else if (task.loss == "mse") {
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
      loss = b.create<MseOp>(l, unranked(), v, target, mask);
    } else {
      return emitError(keyLoc("loss")) << "unknown loss '" << task.loss << "'";
    }
    if (failed(inferResultTypeInPlace(loss.getDefiningOp())))
      return failure();
    b.create<TaskOp>(l, b.getStringAttr(task.name), loss, v,
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
  return Generator(context, spec).run();
}
