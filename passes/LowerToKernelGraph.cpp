//===- LowerToKernelGraph.cpp - mtl functions to codegen's input ----------===//
//
// The MLIR/Halide boundary: everything codegen needs is copied into plain
// structs (codegen/KernelGraph.h), so no LLVM 19 object crosses into the
// translation units that include Halide (which carries LLVM 14).
//
//===----------------------------------------------------------------------===//
#include "passes/LowerToKernelGraph.h"
#include "ir/MtlOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mtl;

namespace {
std::string locString(Location loc) {
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (!fused.getLocations().empty())
      return locString(fused.getLocations().front());
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (file.getFilename().str() + ":" + std::to_string(file.getLine()) +
            ":" + std::to_string(file.getColumn()));
  return "";
}

class Lowering {
public:
  Lowering(func::FuncOp fn, StepKind kind) : fn(fn), kind(kind) {}

  FailureOr<kg::Function> run(StringRef name) {
    out.name = name.str();
    Block &body = fn.front();
    // Outputs first: they decide which ops are live.
    for (auto task : body.getOps<TaskOp>()) {
      if (kind != StepKind::Predict)
        addOutput(kg::ArgKind::Loss, task.getName(), task.getLoss());
      addOutput(kg::ArgKind::Prediction, task.getName(), task.getPrediction());
    }
    if (kind == StepKind::Train) {
      for (auto grad : body.getOps<ParamGradOp>()) {
        auto task = grad->getAttrOfType<StringAttr>("mtl.task");
        addOutput(task ? kg::ArgKind::TaskGrad : kg::ArgKind::Grad,
                  grad.getName(), grad.getGrad());
        if (task)
          out.outputs.back().task = task.str();
      }
      for (auto update : body.getOps<StateUpdateOp>())
        addOutput(kg::ArgKind::StateOut, update.getName(), update.getValue());
      if (body.getOps<ParamGradOp>().empty())
        return fn.emitError() << "train step has no parameter gradients: run "
                                 "mtl-autodiff first";
    }

    // Liveness: the ops the outputs transitively read.
    llvm::SetVector<Operation *> live;
    SmallVector<Value> work(outputValues.begin(), outputValues.end());
    while (!work.empty()) {
      Operation *def = work.pop_back_val().getDefiningOp();
      if (!def || !live.insert(def))
        continue;
      work.append(def->operand_begin(), def->operand_end());
    }

    // Pipeline arguments in a stable order: inputs, per-task targets and
    // masks, then parameters, each in program order.
    for (auto input : body.getOps<InputOp>())
      if (live.contains(input))
        addArg(kg::ArgKind::Input, input.getName(), input.getResult());
    for (auto task : body.getOps<TaskOp>()) {
      for (auto target : body.getOps<TargetOp>())
        if (target.getTask() == task.getName() && live.contains(target))
          addArg(kg::ArgKind::Target, target.getTask(), target.getResult());
      for (auto mask : body.getOps<MaskOp>())
        if (mask.getTask() == task.getName() && live.contains(mask))
          addArg(kg::ArgKind::Mask, mask.getTask(), mask.getResult());
    }
    for (auto param : body.getOps<ParamOp>())
      if (live.contains(param))
        addArg(kg::ArgKind::Param, param.getName(), param.getResult(),
               param.getInit());
    for (auto state : body.getOps<StateOp>())
      if (live.contains(state))
        addArg(kg::ArgKind::State, state.getName(), state.getResult(),
               state.getInit());
    for (auto w : body.getOps<LossWeightsOp>())
      if (live.contains(w))
        addArg(kg::ArgKind::LossWeights, "loss_weights", w.getResult());
    // One seed argument; every mtl.seed reads it.
    Value seed;
    for (auto op : body.getOps<SeedOp>())
      if (live.contains(op)) {
        if (!seed)
          addArg(kg::ArgKind::Seed, "seed", seed = op.getResult());
        else
          ids[op.getResult()] = idOf(seed);
      }

    for (Operation &op : body.without_terminator()) {
      if (!live.contains(&op) ||
          isa<InputOp, TargetOp, MaskOp, ParamOp, StateOp, SeedOp, TaskOp,
              ParamGradOp, StateUpdateOp, LossWeightsOp>(op))
        continue;
      if (failed(addNode(op)))
        return failure();
    }
    for (kg::Arg &o : out.outputs)
      o.value = idOf(outputValues[&o - out.outputs.data()]);
    for (size_t i = 0; i < out.args.size(); ++i)
      out.args[i].value = idOf(argValues[i]);
    return std::move(out);
  }

private:
  void addOutput(kg::ArgKind k, StringRef name, Value v) {
    out.outputs.push_back({k, name.str(), -1});
    outputValues.push_back(v);
  }
  void addArg(kg::ArgKind k, StringRef name, Value v, StringRef init = "") {
    out.args.push_back({k, name.str(), -1, init.str()});
    argValues.push_back(v);
  }

  int idOf(Value v) {
    auto it = ids.find(v);
    if (it != ids.end())
      return it->second;
    auto type = cast<RankedTensorType>(v.getType());
    kg::Value kv;
    kv.dtype = type.getElementType().isInteger(32)  ? kg::DType::I32
               : type.getElementType().isInteger(8) ? kg::DType::I8
                                                    : kg::DType::F32;
    kv.shape.assign(type.getShape().begin(), type.getShape().end());
    out.values.push_back(kv);
    return ids[v] = out.values.size() - 1;
  }

  LogicalResult addNode(Operation &op) {
    SmallVector<Type> types(op.getOperandTypes());
    types.append(op.result_type_begin(), op.result_type_end());
    for (Type t : types)
      if (!cast<ShapedType>(t).hasStaticShape())
        return op.emitError() << "cannot generate code for a tensor of "
                                 "unknown shape: "
                              << t << " (run mtl-shape-inference)";
    kg::Node node;
    node.op = op.getName().stripDialect().str();
    if (isa<FlattenOp>(op))
      node.op = "reshape"; // the same row-major elements, a new shape
    if (isa<JoinOp>(op) && op.hasAttr("mtl.task_join"))
      node.op = "task_join"; // calls the runtime's strategy back
    // The interpolation mode selects the kernel: upsample_nearest, ...
    if (auto up = dyn_cast<UpsampleOp>(op))
      node.op += "_" + up.getMode().str();
    else if (auto upGrad = dyn_cast<UpsampleGradOp>(op))
      node.op += "_" + upGrad.getMode().str();
    for (Value v : op.getOperands())
      node.inputs.push_back(idOf(v));
    node.result = idOf(op.getResult(0));
    for (NamedAttribute attr : op.getAttrs()) {
      if (auto ints = dyn_cast<DenseI64ArrayAttr>(attr.getValue()))
        node.ints[attr.getName().str()] = ints.asArrayRef().vec();
      else if (auto i = dyn_cast<IntegerAttr>(attr.getValue()))
        node.ints[attr.getName().str()] = {
            i.getType().isInteger(1) ? int64_t(i.getValue().getZExtValue())
                                     : i.getValue().getSExtValue()};
      else if (auto f = dyn_cast<FloatAttr>(attr.getValue()))
        node.floats[attr.getName().str()] = f.getValueAsDouble();
      else if (isa<UnitAttr>(attr.getValue())) // e.g. mtl.fused_epilogue
        node.ints[attr.getName().str()] = {1};
    }
    node.loc = locString(op.getLoc());
    out.nodes.push_back(std::move(node));
    return success();
  }

  func::FuncOp fn;
  StepKind kind;
  kg::Function out;
  DenseMap<Value, int> ids;
  SmallVector<Value> outputValues, argValues;
};
} // namespace

FailureOr<kg::Function> mtl::lowerToKernelGraph(func::FuncOp fn, StepKind kind,
                                                StringRef name) {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << "expected a single-block function";
  return Lowering(fn, kind).run(name);
}
