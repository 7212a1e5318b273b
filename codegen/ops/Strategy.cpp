//===- Strategy.cpp - Run-time loss weights and the task join ------------===//
//
// scale_task: a loss gradient times its task's run-time weight.
// task_join: where T tasks' gradients meet and a strategy needs them apart.
// The gradients are stacked along a new outermost dimension and handed to
// an extern stage, `mtl_rt_combine_task_grads` (runtime/strategy/
// CombineExtern.cpp), which combines them with the run's gradient method;
// the backward pass continues from its result inside the same pipeline.
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

Func lowerScaleTask(OpContext &ctx) {
  if (ctx.inputs.size() != 2 || ctx.inputShapes[1].size() != 1)
    throw LoweringError{"expects (grad, weights[T])"};
  int64_t task = ctx.ints("task", 1)[0];
  if (task < 0 || task >= ctx.inputShapes[1][0])
    throw LoweringError{"task index out of the weights"};
  std::vector<Var> v = makeVars(ctx.rank());
  Func out(ctx.resultName);
  out(v) =
      call(ctx.inputs[0], asExprs(v)) * ctx.inputs[1](static_cast<int>(task));
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerTaskJoin(OpContext &ctx) {
  const int T = static_cast<int>(ctx.inputs.size());
  if (T < 2)
    throw LoweringError{"expects at least two task gradients"};
  for (auto &s : ctx.inputShapes)
    if (s != ctx.shape)
      throw LoweringError{"operands must have the result's shape"};
  std::vector<int64_t> tasks = ctx.ints("tasks", T);
  int32_t mask = 0;
  for (int64_t t : tasks) {
    if (t < 0 || t >= 31)
      throw LoweringError{"task index out of range (at most 31 tasks)"};
    mask |= int32_t(1) << t;
  }
  const int r = ctx.rank();
  std::vector<Var> v = makeVars(r);
  Var t("t");
  std::vector<Var> vt = v;
  vt.push_back(t);
  Expr e = call(ctx.inputs[T - 1], asExprs(v));
  for (int k = T - 2; k >= 0; --k)
    e = select(t == k, call(ctx.inputs[k], asExprs(v)), e);
  Func stacked(ctx.name("stacked"));
  stacked(vt) = e;
  stacked.compute_root();
  stacked.bound(t, 0, T);
  if (!ctx.gpu && r > 0 && hdim(ctx.shape, 0) >= 8)
    stacked.vectorize(v[0], 8, TailStrategy::GuardWithIf);

  Func combined(ctx.name("combined"));
  combined.define_extern("mtl_rt_combine_task_grads",
                         {Expr(int32_t(T)), Expr(mask), stacked}, Float(32), r,
                         NameMangling::C, DeviceAPI::Host);
  combined.compute_root();
  Func out(ctx.resultName);
  out(v) = call(combined, asExprs(v));
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerStrategyOps(OpTable &t) {
  t["scale_task"] = lowerScaleTask;
  t["task_join"] = lowerTaskJoin;
}

} // namespace mtl::codegen
