//===- Activation.cpp - leaky_relu, sigmoid, tanh, gelu, softmax + grads -===//
//
// Elementwise activations: one compute_root stage, vectorized over the
// innermost (channel) dim, parallel over the batch (scheduleElementwise).
// softmax (last axis): row max and row sum computed per row inside the
// output loop (vectorized over channels, parallel over the batch).
//
//===----------------------------------------------------------------------===//
#include "codegen/ops/CnnOps.h"

#include <cmath>

using namespace Halide;

namespace mtl::codegen {

/// Eigen's rational approximation of tanh (generic_fast_tanh_float: odd
/// degree-13 over even degree-6 polynomial on x clamped to +-7.9053, x
/// itself below 4e-4): within 4e-7 of tanh everywhere (6.6 ulp at most,
/// near |x| = 5.8), in FMAs and one division per vector. Halide 14 lowers
/// tanh to libm's scalar tanhf per element: the reference LSTM spent 38 %
/// of its train step in tanhf and expm1f.
Expr tanhOf(Expr x) {
  Expr c = clamp(x, -7.90531110763549805f, 7.90531110763549805f);
  Expr x2 = c * c;
  Expr p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = c * p;
  Expr q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  Expr r = select(abs(x) < 4e-4f, x, p / q);
  return select(is_nan(x), x, r); // NaN stays NaN (the clamp would not)
}

namespace {

void requireSameShape(OpContext &ctx) {
  for (auto &s : ctx.inputShapes)
    if (s != ctx.shape)
      throw LoweringError{"operands must have the result's shape"};
}

Func elementwise(OpContext &ctx, size_t arity, const char *what,
                 std::function<Expr(std::vector<Expr>)> f) {
  requireArity(ctx, arity, what);
  requireSameShape(ctx);
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> ins;
  for (Func &in : ctx.inputs)
    ins.push_back(call(in, asExprs(v)));
  Func out(ctx.resultName);
  out(v) = f(ins);
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

const float kGeluC = 0.7978845608028654f; // sqrt(2 / pi)
const float kGeluA = 0.044715f;

Expr sigmoidOf(Expr x) { return 1.0f / (1.0f + exp(-x)); }

// The activations' expressions, shared by their lowering and their epilogue
// form (registerActivationEpilogues).
float alphaOf(const OpContext &ctx) {
  return static_cast<float>(ctx.floatAttr("alpha", 0.01));
}
Expr leakyReluOf(Expr x, float a) { return select(x > 0.0f, x, a * x); }
Expr geluOf(Expr x) {
  return 0.5f * x * (1.0f + tanhOf(kGeluC * (x + kGeluA * x * x * x)));
}

Func lowerSoftmax(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  requireSameShape(ctx);
  if (ctx.rank() < 2)
    throw LoweringError{"expects rank >= 2"};
  const int C = hdim(ctx.shape, 0);
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> rest = restOf(v);
  Func x = ctx.inputs[0];
  RDom r(0, C, ctx.name("r"));
  auto at = [&](Expr c) {
    std::vector<Expr> a = {c};
    a.insert(a.end(), rest.begin(), rest.end());
    return a;
  };
  std::vector<Var> rv(v.begin() + 1, v.end());
  Func m(ctx.name("max")), e(ctx.name("exp")), s(ctx.name("sum"));
  m(rv) = Float(32).min();
  m(rv) = max(m(rv), call(x, at(r)));
  e(v) = exp(call(x, asExprs(v)) - m(rv));
  s(rv) = 0.0f;
  s(rv) += call(e, at(r));
  Func out(ctx.resultName);
  out(v) = e(v) / s(rv);
  scheduleRowwise(out, v, ctx.shape, {m, s}, ctx.gpu);
  if (ctx.gpu) {
    scheduleElementwise(e, v, ctx.shape, true);
  } else {
    e.compute_at(out, v[1]);
    int w = vectorLanes(C);
    if (w > 1)
      e.vectorize(v[0], w, TailStrategy::GuardWithIf);
  }
  return out;
}

Func lowerSoftmaxGrad(OpContext &ctx) {
  requireArity(ctx, 2, "(dy, y)");
  requireSameShape(ctx);
  if (ctx.rank() < 2)
    throw LoweringError{"expects rank >= 2"};
  const int C = hdim(ctx.shape, 0);
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> rest = restOf(v);
  Func dy = ctx.inputs[0], y = ctx.inputs[1];
  RDom r(0, C, ctx.name("r"));
  std::vector<Expr> at = {r};
  at.insert(at.end(), rest.begin(), rest.end());
  std::vector<Var> rv(v.begin() + 1, v.end());
  Func dot(ctx.name("dot"));
  dot(rv) = 0.0f;
  dot(rv) += call(dy, at) * call(y, at);
  Func out(ctx.resultName);
  out(v) = call(y, asExprs(v)) * (call(dy, asExprs(v)) - dot(rv));
  scheduleRowwise(out, v, ctx.shape, {dot}, ctx.gpu);
  return out;
}

} // namespace

void registerActivationEpilogues(EpilogueTable &t) {
  using At = const std::vector<Expr> &;
  t["leaky_relu"] = [](const OpContext &c, Expr x, At) {
    return leakyReluOf(x, alphaOf(c));
  };
  t["sigmoid"] = [](const OpContext &, Expr x, At) { return sigmoidOf(x); };
  t["tanh"] = [](const OpContext &, Expr x, At) { return tanhOf(x); };
  t["gelu"] = [](const OpContext &, Expr x, At) { return geluOf(x); };
}

void registerActivationOps(OpTable &t) {
  t["leaky_relu"] = [](OpContext &ctx) {
    float a = alphaOf(ctx);
    return elementwise(ctx, 1, "(x)", [a](std::vector<Expr> x) {
      return leakyReluOf(x[0], a);
    });
  };
  t["leaky_relu_grad"] = [](OpContext &ctx) {
    float a = static_cast<float>(ctx.floatAttr("alpha", 0.01));
    return elementwise(ctx, 2, "(dy, x)", [a](std::vector<Expr> x) {
      return select(x[1] > 0.0f, x[0], a * x[0]);
    });
  };
  t["sigmoid"] = [](OpContext &ctx) {
    return elementwise(ctx, 1, "(x)",
                       [](std::vector<Expr> x) { return sigmoidOf(x[0]); });
  };
  t["sigmoid_grad"] = [](OpContext &ctx) {
    return elementwise(ctx, 2, "(dy, y)", [](std::vector<Expr> x) {
      return x[0] * x[1] * (1.0f - x[1]);
    });
  };
  t["tanh"] = [](OpContext &ctx) {
    return elementwise(ctx, 1, "(x)",
                       [](std::vector<Expr> x) { return tanhOf(x[0]); });
  };
  t["tanh_grad"] = [](OpContext &ctx) {
    return elementwise(ctx, 2, "(dy, y)", [](std::vector<Expr> x) {
      return x[0] * (1.0f - x[1] * x[1]);
    });
  };
  t["gelu"] = [](OpContext &ctx) {
    return elementwise(ctx, 1, "(x)",
                       [](std::vector<Expr> a) { return geluOf(a[0]); });
  };
  t["gelu_grad"] = [](OpContext &ctx) {
    return elementwise(ctx, 2, "(dy, x)", [](std::vector<Expr> a) {
      Expr dy = a[0], x = a[1];
      Expr th = tanhOf(kGeluC * (x + kGeluA * x * x * x));
      Expr d = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * kGeluC *
                                        (1.0f + 3.0f * kGeluA * x * x);
      return dy * d;
    });
  };
  t["softmax"] = lowerSoftmax;
  t["softmax_grad"] = lowerSoftmaxGrad;
}

} // namespace mtl::codegen
