//===- Graph.cpp - add, concat and slice_channels ------------------------===//
//
// Memory-bound: one compute_root stage each, vectorized over the channel dim
// (Halide dim 0), parallel over the batch.
//
//===----------------------------------------------------------------------===//
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

std::vector<Expr> withFirst(Expr c, const std::vector<Var> &v) {
  std::vector<Expr> a = {c};
  for (size_t i = 1; i < v.size(); ++i)
    a.push_back(v[i]);
  return a;
}

Func lowerAdd(OpContext &ctx) {
  if (ctx.inputs.size() < 2)
    throw LoweringError{"expects at least two inputs"};
  for (auto &s : ctx.inputShapes)
    if (s != ctx.shape)
      throw LoweringError{"operands must have the result's shape"};
  std::vector<Var> v = makeVars(ctx.rank());
  Expr sum = call(ctx.inputs[0], asExprs(v));
  for (size_t k = 1; k < ctx.inputs.size(); ++k)
    sum += call(ctx.inputs[k], asExprs(v));
  Func out(ctx.resultName);
  out(v) = sum;
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerConcat(OpContext &ctx) {
  if (ctx.inputs.size() < 2 || ctx.rank() < 1)
    throw LoweringError{"expects at least two inputs"};
  std::vector<Var> v = makeVars(ctx.rank());
  int64_t total = 0;
  for (auto &s : ctx.inputShapes) {
    if (s.size() != ctx.shape.size() ||
        !std::equal(s.begin(), s.end() - 1, ctx.shape.begin()))
      throw LoweringError{"inputs must agree with the result but in channels"};
    total += s.back();
  }
  if (total != ctx.shape.back())
    throw LoweringError{"channel counts do not add up"};
  Func out(ctx.resultName);
  if (ctx.gpu) {
    // select(c >= begin_k, in_k, ...) with later inputs taking precedence.
    Expr e;
    int begin = 0;
    for (size_t k = 0; k < ctx.inputs.size(); ++k) {
      int Ck = static_cast<int>(ctx.inputShapes[k].back());
      Expr here =
          call(ctx.inputs[k], withFirst(clamp(v[0] - begin, 0, Ck - 1), v));
      e = e.defined() ? select(v[0] >= begin, here, e) : here;
      begin += Ck;
    }
    out(v) = e;
    scheduleElementwise(out, v, ctx.shape, ctx.gpu);
    return out;
  }
  // CPU: one copy stage per input over its own channel range. The select
  // form above clamps each input's index, which turns every vector load
  // into a gather (13.7 ms for the fused heads' 26 MB of weights).
  out(v) = 0.0f;
  scheduleElementwise(out, v, ctx.shape, false);
  int begin = 0;
  for (size_t k = 0; k < ctx.inputs.size(); ++k) {
    int Ck = static_cast<int>(ctx.inputShapes[k].back());
    RDom r(0, Ck, ctx.name("r" + std::to_string(k)));
    std::vector<Expr> lhs = withFirst(r.x + begin, v), rhs = withFirst(r.x, v);
    out(lhs) = call(ctx.inputs[k], rhs);
    Stage s = out.update(static_cast<int>(k));
    bool scheduled = false;
    if (Ck >= 16) {
      s.vectorize(r.x, 16);
      scheduled = true;
    }
    if (v.size() >= 2 && hdim(ctx.shape, ctx.rank() - 1) > 1) {
      s.parallel(v.back());
      scheduled = true;
    }
    // A narrow input of a one-row result: a plain loop, said so (else Halide
    // warns at every build that the update was left unscheduled).
    if (!scheduled)
      s.unscheduled();
    begin += Ck;
  }
  return out;
}

Func lowerSliceChannels(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  const auto &in = ctx.inputShapes[0];
  int64_t off = ctx.ints("offset", 1)[0];
  if (in.size() != ctx.shape.size() || ctx.rank() < 1 || off < 0 ||
      off + ctx.shape.back() > in.back())
    throw LoweringError{"slice out of the input's channels"};
  std::vector<Var> v = makeVars(ctx.rank());
  Func out(ctx.resultName);
  out(v) = call(ctx.inputs[0], withFirst(v[0] + static_cast<int>(off), v));
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerGraphOps(OpTable &t) {
  t["add"] = lowerAdd;
  t["concat"] = lowerConcat;
  t["slice_channels"] = lowerSliceChannels;
}

} // namespace mtl::codegen
