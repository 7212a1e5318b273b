//===- Dense.cpp - dense and its two gradients ---------------------------===//
//
// All three are one register-tiled GEMM C(j, i) = sum_k A(j, k) * B(k, i)
// with j contiguous in A and C (vectorized) and B read as broadcasts:
//   forward   y(m, n)  = w(m, k)  * x(k, n)
//   grad-in   dx(k, n) = wT(k, m) * dy(m, n)   (w transposed once, small)
//   grad-w    dw(m, k) = dy(m, n) * x(k, n)
// Halide order: x(k, n), w(m, k), y(m, n).
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

#include <optional>

using namespace Halide;

namespace mtl::codegen {
namespace {

void check2(const std::vector<int64_t> &s, const char *what) {
  if (s.size() != 2)
    throw LoweringError{std::string(what) + " must be rank 2"};
}

/// out(j, i) = init(j) + sum_{r<K} a(j, r) * b(r, i)
Func gemm(OpContext &ctx, std::function<Expr(Expr, Expr)> a,
          std::function<Expr(Expr, Expr)> b, std::optional<Func> init, int J,
          int I, int K) {
  Var j("j"), i("i");
  RDom r(0, K, ctx.name("r"));
  Func acc(ctx.name("acc"));
  acc(j, i) = init ? (*init)(j) : Expr(0.0f);
  acc(j, i) += a(j, r) * b(r, i);
  Func out(ctx.resultName);
  // A fused epilogue (activation) is applied to the register tile.
  out(j, i) = ctx.applyEpilogue(acc(j, i), {j, i});
  scheduleTiledContraction(out, acc, {j, i}, {J, I}, r,
                           TileSpec{0, 1, -1, K % 4 == 0 ? 4 : 1}, ctx.gpu);
  return out;
}

Func lowerDense(OpContext &ctx) {
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (x, w) or (x, w, b)"};
  check2(ctx.inputShapes[0], "x");
  check2(ctx.inputShapes[1], "w");
  int N = ctx.inputShapes[0][0], K = ctx.inputShapes[0][1],
      M = ctx.inputShapes[1][1];
  if (ctx.inputShapes[1][0] != K || ctx.shape != std::vector<int64_t>{N, M})
    throw LoweringError{"inconsistent dense shapes"};
  Func x = ctx.inputs[0], w = ctx.inputs[1];
  std::optional<Func> b;
  if (ctx.inputs.size() == 3)
    b = ctx.inputs[2];
  return gemm(
      ctx,
      [=](Expr m, Expr k) {
        return call(w, {m, k});
      },
      [=](Expr k, Expr n) {
        return call(x, {k, n});
      },
      b, M, N, K);
}

Func lowerDenseBackwardInput(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (dy, w)"};
  check2(ctx.inputShapes[0], "dy");
  check2(ctx.inputShapes[1], "w");
  int N = ctx.inputShapes[0][0], M = ctx.inputShapes[0][1],
      K = ctx.inputShapes[1][0];
  if (ctx.inputShapes[1][1] != M || ctx.shape != std::vector<int64_t>{N, K})
    throw LoweringError{"inconsistent dense_backward_input shapes"};
  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  // Transposed copy keeps the vectorized operand contiguous.
  Var k("k"), m("m");
  Func wt(ctx.name("wt"));
  wt(k, m) = w(m, k);
  scheduleElementwise(wt, {k, m}, {M, K}, ctx.gpu);
  return gemm(
      ctx,
      [=](Expr k, Expr m) {
        return call(wt, {k, m});
      },
      [=](Expr m, Expr n) {
        return call(dy, {m, n});
      },
      std::nullopt, K, N, M);
}

Func lowerDenseBackwardWeight(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (x, dy)"};
  check2(ctx.inputShapes[0], "x");
  check2(ctx.inputShapes[1], "dy");
  int N = ctx.inputShapes[0][0], K = ctx.inputShapes[0][1],
      M = ctx.inputShapes[1][1];
  if (ctx.inputShapes[1][0] != N || ctx.shape != std::vector<int64_t>{K, M})
    throw LoweringError{"inconsistent dense_backward_weight shapes"};
  Func x = ctx.inputs[0], dy = ctx.inputs[1];
  return gemm(
      ctx,
      [=](Expr m, Expr n) {
        return call(dy, {m, n});
      },
      [=](Expr n, Expr k) {
        return call(x, {k, n});
      },
      std::nullopt, M, K, N);
}

} // namespace

void registerDenseOps(OpTable &t) {
  t["dense"] = lowerDense;
  t["dense_backward_input"] = lowerDenseBackwardInput;
  t["dense_backward_weight"] = lowerDenseBackwardWeight;
}

} // namespace mtl::codegen
