//===- ShapeRules.cpp - Result shapes of the forward mtl ops --------------===//
//
// One rule per op, used by the verifiers and by mtl-shape-inference. The
// messages are read by spec authors (the op's location is a TOML layer), so
// they speak of layers and shapes, not of MLIR.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

FailureOr<Type> Conv2DOp::inferResultType() {
  auto x = shapeOf(getInput()), w = shapeOf(getFilter());
  if (failed(checkPair(*this, getStride(), "stride", 1)) ||
      failed(checkPair(*this, getPadding(), "padding", 0)) ||
      failed(checkPair(*this, getDilation(), "dilation", 1)))
    return failure();
  const int64_t groups = getGroups();
  if (groups < 1)
    return emitError() << "groups must be >= 1, got " << groups;
  if (!x || !w || (getBias() && !shapeOf(getBias())))
    return Type();
  if (x->size() != 4)
    return emitError() << "conv2d expects an NHWC input of rank 4, got "
                       << str(*x)
                       << "; a conv2d cannot follow a flatten or "
                          "dense layer";
  if (w->size() != 4)
    return emitError() << "conv2d filter must be [kh, kw, cin, cout], got "
                       << str(*w);
  if (groups > 1 && ((*x)[3] % groups || (*w)[3] % groups))
    return emitError() << "conv2d groups = " << groups
                       << " must divide the input channels (" << (*x)[3]
                       << ") and the filters (" << (*w)[3] << ")";
  if (groups > 1 && (*w)[2] * groups != (*x)[3])
    return emitError() << "conv2d filter has " << (*w)[2]
                       << " input channels per group but the input " << str(*x)
                       << " has " << (*x)[3] / groups << " (" << groups
                       << " groups)";
  if ((*w)[2] * groups != (*x)[3])
    return emitError() << "conv2d filter has " << (*w)[2]
                       << " input channels but the input " << str(*x) << " has "
                       << (*x)[3];
  if (auto b = shapeOf(getBias()); b && (b->size() != 1 || (*b)[0] != (*w)[3]))
    return emitError() << "conv2d bias must be [" << (*w)[3] << "], got "
                       << str(*b);
  auto stride = getStride(), pad = getPadding(), dil = getDilation();
  // The dilated (effective) kernel size.
  int64_t kh = ((*w)[0] - 1) * dil[0] + 1, kw = ((*w)[1] - 1) * dil[1] + 1;
  int64_t ho = ((*x)[1] + 2 * pad[0] - kh) / stride[0] + 1;
  int64_t wo = ((*x)[2] + 2 * pad[1] - kw) / stride[1] + 1;
  if ((*x)[1] + 2 * pad[0] < kh || (*x)[2] + 2 * pad[1] < kw)
    return emitError() << "conv2d kernel " << kh << "x" << kw
                       << ((kh != (*w)[0] || kw != (*w)[1]) ? " (dilated)" : "")
                       << " does not fit the padded input " << (*x)[1] << "x"
                       << (*x)[2] << " (padding " << str(pad) << ")";
  return f32Tensor(*this, {(*x)[0], ho, wo, (*w)[3]});
}

FailureOr<Type> DenseOp::inferResultType() {
  auto x = shapeOf(getInput()), w = shapeOf(getWeight());
  if (!x || !w || (getBias() && !shapeOf(getBias())))
    return Type();
  if (x->size() != 2)
    return emitError() << "dense expects an input [batch, features] of rank "
                          "2, got "
                       << str(*x) << "; add a 'flatten' layer before it";
  if (w->size() != 2 || (*w)[0] != (*x)[1])
    return emitError() << "dense weight must be [" << (*x)[1]
                       << ", units], got " << str(*w);
  if (auto b = shapeOf(getBias()); b && (b->size() != 1 || (*b)[0] != (*w)[1]))
    return emitError() << "dense bias must be [" << (*w)[1] << "], got "
                       << str(*b);
  return f32Tensor(*this, {(*x)[0], (*w)[1]});
}

FailureOr<Type> ReluOp::inferResultType() {
  auto x = shapeOf(getInput());
  if (!x)
    return Type();
  return f32Tensor(*this, *x);
}

/// The pooled shape of max_pool and max_pool_argmax (nullopt: input
/// unranked).
template <class Pool>
static FailureOr<std::optional<SmallVector<int64_t, 4>>> pooledShape(Pool op) {
  if (failed(checkPair(op, op.getKernel(), "kernel", 1)) ||
      failed(checkPair(op, op.getStride(), "stride", 1)))
    return failure();
  auto x = shapeOf(op.getInput());
  if (!x)
    return std::optional<SmallVector<int64_t, 4>>();
  if (x->size() != 4)
    return op.emitError() << op->getName().stripDialect()
                          << " expects an NHWC input of rank 4, got "
                          << str(*x);
  auto k = op.getKernel(), s = op.getStride();
  auto padding = poolPadding(op, op.getPaddingAttr(), k);
  if (failed(padding))
    return failure();
  ArrayRef<int64_t> p = *padding;
  if ((*x)[1] + 2 * p[0] < k[0] || (*x)[2] + 2 * p[1] < k[1])
    return op.emitError() << op->getName().stripDialect() << " kernel " << k[0]
                          << "x" << k[1] << " is larger than its input "
                          << (*x)[1] << "x" << (*x)[2];
  return std::optional<SmallVector<int64_t, 4>>(
      SmallVector<int64_t, 4>{(*x)[0], ((*x)[1] + 2 * p[0] - k[0]) / s[0] + 1,
                              ((*x)[2] + 2 * p[1] - k[1]) / s[1] + 1, (*x)[3]});
}

FailureOr<Type> MaxPoolOp::inferResultType() {
  auto shape = pooledShape(*this);
  if (failed(shape))
    return failure();
  return *shape ? f32Tensor(*this, **shape) : Type();
}

FailureOr<Type> MaxPoolArgmaxOp::inferResultType() {
  auto shape = pooledShape(*this);
  if (failed(shape))
    return failure();
  if (getKernel()[0] * getKernel()[1] > 127)
    return emitError() << "max_pool_argmax windows of "
                       << getKernel()[0] * getKernel()[1]
                       << " elements do not fit its i8 result (at most 127)";
  return *shape ? Type(RankedTensorType::get(**shape,
                                             IntegerType::get(getContext(), 8)))
                : Type();
}

FailureOr<Type> FlattenOp::inferResultType() {
  auto x = shapeOf(getInput());
  if (!x)
    return Type();
  if (x->size() < 2)
    return emitError() << "flatten expects an input of rank >= 2, got "
                       << str(*x);
  int64_t n = 1;
  for (int64_t d : x->drop_front())
    n *= d;
  return f32Tensor(*this, {(*x)[0], n});
}

/// Shared by the losses: checks the mask and returns the scalar type.
static FailureOr<Type> lossType(Operation *op, ArrayRef<int64_t> pred,
                                std::optional<ArrayRef<int64_t>> mask) {
  if (mask && (mask->size() != 1 || (*mask)[0] != pred[0]))
    return op->emitError() << "loss mask must be [" << pred[0] << "], got "
                           << str(*mask);
  return RankedTensorType::get({}, Float32Type::get(op->getContext()));
}

FailureOr<Type> SoftmaxCrossEntropyOp::inferResultType() {
  auto l = shapeOf(getLogits()), t = shapeOf(getTarget());
  if (!l || !t)
    return Type();
  if (l->size() != 2)
    return emitError() << "softmax_cross_entropy expects logits [batch, "
                          "classes], got "
                       << str(*l) << "; end the head with a dense layer";
  if (t->size() != 1 || (*t)[0] != (*l)[0])
    return emitError() << "softmax_cross_entropy expects class ids [" << (*l)[0]
                       << "], got " << str(*t);
  return lossType(*this, *l, shapeOf(getMask()));
}

FailureOr<Type> MseOp::inferResultType() {
  auto p = shapeOf(getPrediction()), t = shapeOf(getTarget());
  if (!p || !t)
    return Type();
  if (p->empty() || *p != *t)
    return emitError() << "mse expects a target shaped like the prediction "
                       << str(*p) << ", got " << str(*t);
  return lossType(*this, *p, shapeOf(getMask()));
}

LogicalResult mtl::inferResultTypeInPlace(Operation *op) {
  auto shaped = dyn_cast<ShapeInference>(op);
  if (!shaped)
    return success();
  FailureOr<Type> type = shaped.inferResultType();
  if (failed(type))
    return failure();
  if (!*type)
    return op->emitError() << "cannot infer the shape of '"
                           << op->getName().getStringRef()
                           << "': an operand has an unknown shape";
  op->getResult(0).setType(*type);
  return success();
}
