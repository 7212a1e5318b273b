//===- CnnShapeRules.cpp - Result shapes of the CNN ops -------------------===//
//
// The shape rules of the ops in CnnOps.td (see ShapeRules.cpp for the
// others). Messages speak of layers and shapes: spec authors read them.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mtl;
using namespace mtl::detail;

namespace {

/// Same shape as the single operand (any rank).
FailureOr<Type> sameAsInput(Operation *op) {
  auto x = shapeOf(op->getOperand(0));
  if (!x)
    return Type();
  return f32Tensor(op, *x);
}

/// An NHWC operand or an error naming the op.
FailureOr<std::optional<ArrayRef<int64_t>>> nhwc(Operation *op, Value v) {
  auto x = shapeOf(v);
  if (x && x->size() != 4) {
    op->emitError() << op->getName().stripDialect()
                    << " expects an NHWC input of rank 4, got " << str(*x)
                    << "; it cannot follow a flatten or dense layer";
    return failure();
  }
  return x;
}
} // namespace

FailureOr<Type> LeakyReluOp::inferResultType() {
  if (getAlpha().convertToDouble() < 0)
    return emitError() << "leaky_relu alpha must be >= 0, got "
                       << getAlpha().convertToDouble();
  return sameAsInput(*this);
}
FailureOr<Type> SigmoidOp::inferResultType() { return sameAsInput(*this); }
FailureOr<Type> TanhOp::inferResultType() { return sameAsInput(*this); }
FailureOr<Type> GeluOp::inferResultType() { return sameAsInput(*this); }

FailureOr<Type> SoftmaxOp::inferResultType() {
  auto x = shapeOf(getInput());
  if (!x)
    return Type();
  if (x->size() < 2)
    return emitError() << "softmax expects an input [batch, ..., classes] of "
                          "rank >= 2, got "
                       << str(*x);
  return f32Tensor(*this, *x);
}

FailureOr<Type> LayerNormOp::inferResultType() {
  if (getEps().convertToDouble() <= 0)
    return emitError() << "layer_norm eps must be > 0, got "
                       << getEps().convertToDouble();
  auto x = shapeOf(getInput()), g = shapeOf(getGamma()), b = shapeOf(getBeta());
  if (!x || !g || !b)
    return Type();
  if (x->size() < 2)
    return emitError() << "layer_norm expects an input of rank >= 2, got "
                       << str(*x);
  int64_t c = x->back();
  if (g->size() != 1 || (*g)[0] != c)
    return emitError() << "layer_norm gamma must be [" << c << "], got "
                       << str(*g);
  if (b->size() != 1 || (*b)[0] != c)
    return emitError() << "layer_norm beta must be [" << c << "], got "
                       << str(*b);
  return f32Tensor(*this, *x);
}

FailureOr<Type> AvgPoolOp::inferResultType() {
  if (failed(checkPair(*this, getKernel(), "kernel", 1)) ||
      failed(checkPair(*this, getStride(), "stride", 1)))
    return failure();
  auto x = nhwc(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  ArrayRef<int64_t> s = **x;
  auto k = getKernel(), st = getStride();
  auto padding = poolPadding(*this, getPaddingAttr(), k);
  if (failed(padding))
    return failure();
  ArrayRef<int64_t> p = *padding;
  if (s[1] + 2 * p[0] < k[0] || s[2] + 2 * p[1] < k[1])
    return emitError() << "avg_pool kernel " << k[0] << "x" << k[1]
                       << " is larger than its input " << s[1] << "x" << s[2];
  return f32Tensor(*this, {s[0], (s[1] + 2 * p[0] - k[0]) / st[0] + 1,
                           (s[2] + 2 * p[1] - k[1]) / st[1] + 1, s[3]});
}

FailureOr<Type> GlobalAvgPoolOp::inferResultType() {
  auto x = nhwc(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  return f32Tensor(*this, {(**x)[0], (**x)[3]});
}

FailureOr<Type> UpsampleOp::inferResultType() {
  if (failed(checkPair(*this, getScale(), "scale", 1)))
    return failure();
  if (getMode() != "nearest" && getMode() != "bilinear")
    return emitError() << "upsample mode must be 'nearest' or 'bilinear', got '"
                       << getMode() << "'";
  auto x = nhwc(*this, getInput());
  if (failed(x))
    return failure();
  if (!*x)
    return Type();
  ArrayRef<int64_t> s = **x;
  auto k = getScale();
  return f32Tensor(*this, {s[0], s[1] * k[0], s[2] * k[1], s[3]});
}

FailureOr<Type> ConcatOp::inferResultType() {
  if (getInputs().size() < 2)
    return emitError() << "concat needs at least 2 inputs, got "
                       << getInputs().size();
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Value v : getInputs()) {
    auto s = shapeOf(v);
    if (!s)
      return Type();
    shapes.push_back(*s);
  }
  SmallVector<int64_t> out(shapes[0]);
  // Rank 1 too: head fusion concatenates biases.
  if (out.empty())
    return emitError() << "concat expects inputs of rank >= 1, got "
                       << str(shapes[0]);
  for (size_t i = 1; i < shapes.size(); ++i) {
    ArrayRef<int64_t> s = shapes[i];
    if (s.size() != out.size() || s.drop_back() != shapes[0].drop_back())
      return emitError() << "concat inputs must agree in every dimension but "
                            "the last (channels): input 0 is "
                         << str(shapes[0]) << ", input " << i << " is "
                         << str(s);
    out.back() += s.back();
  }
  return f32Tensor(*this, out);
}

FailureOr<Type> AddOp::inferResultType() {
  if (getInputs().size() < 2)
    return emitError() << "add needs at least 2 inputs, got "
                       << getInputs().size();
  std::optional<ArrayRef<int64_t>> first;
  for (auto [i, v] : llvm::enumerate(getInputs())) {
    auto s = shapeOf(v);
    if (!s)
      return Type();
    if (!first)
      first = s;
    else if (*s != *first)
      return emitError() << "add inputs must have the same shape: input 0 is "
                         << str(*first) << ", input " << i << " is " << str(*s);
  }
  return f32Tensor(*this, *first);
}

FailureOr<Type> ConvTranspose2DOp::inferResultType() {
  if (failed(checkPair(*this, getStride(), "stride", 1)) ||
      failed(checkPair(*this, getPadding(), "padding", 0)) ||
      failed(checkPair(*this, getOutputPadding(), "output_padding", 0)))
    return failure();
  auto s = getStride(), p = getPadding(), op = getOutputPadding();
  for (int i = 0; i < 2; ++i)
    if (op[i] >= s[i])
      return emitError() << "conv_transpose2d output_padding must be smaller "
                            "than the stride, got output_padding "
                         << str(op) << " with stride " << str(s);
  auto xr = nhwc(*this, getInput());
  if (failed(xr))
    return failure();
  auto w = shapeOf(getFilter());
  if (!*xr || !w || (getBias() && !shapeOf(getBias())))
    return Type();
  ArrayRef<int64_t> x = **xr;
  if (w->size() != 4)
    return emitError() << "conv_transpose2d filter must be [kh, kw, cout, "
                          "cin], got "
                       << str(*w);
  if ((*w)[3] != x[3])
    return emitError() << "conv_transpose2d filter has " << (*w)[3]
                       << " input channels but the input " << str(x) << " has "
                       << x[3];
  if (auto b = shapeOf(getBias()); b && (b->size() != 1 || (*b)[0] != (*w)[2]))
    return emitError() << "conv_transpose2d bias must be [" << (*w)[2]
                       << "], got " << str(*b);
  int64_t ho = (x[1] - 1) * s[0] - 2 * p[0] + (*w)[0] + op[0];
  int64_t wo = (x[2] - 1) * s[1] - 2 * p[1] + (*w)[1] + op[1];
  if (ho < 1 || wo < 1)
    return emitError() << "conv_transpose2d padding " << str(p)
                       << " leaves no output for input " << x[1] << "x" << x[2]
                       << " and kernel " << (*w)[0] << "x" << (*w)[1];
  return f32Tensor(*this, {x[0], ho, wo, (*w)[2]});
}
