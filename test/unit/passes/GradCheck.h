//===- GradCheck.h - Finite-difference gradient checks (test helper) -----===//
//
// A test writes a small @model in the mtl dialect; gradCheck runs the real
// pass pipeline (shape inference, autodiff), lowers @train_step and @model
// to kernel graphs and runs them through the real Halide lowering (JIT).
// The analytic gradient of sum_t weight_t * loss_t for every parameter is
// compared with central finite differences of the eval step's losses.
// Shared by GradCheckTest.cpp and the per-family *GradTest.cpp files.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_TEST_UNIT_PASSES_GRADCHECK_H
#define MTL_TEST_UNIT_PASSES_GRADCHECK_H

#include "codegen/Evaluate.h"
#include "ir/MtlOps.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>

namespace mtl::gradcheck {

using codegen::HostTensor;

struct Steps {
  kg::Function train, eval;
  std::map<std::string, double> weights; // task -> weight
};

inline Steps compile(const std::string &source,
                     const FusionOptions &fusion = FusionOptions()) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<MtlDialect, mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
  EXPECT_TRUE(module) << "test IR does not parse";
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm, fusion);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module))) << "pipeline failed";
  Steps steps;
  auto train =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("train_step"),
                         StepKind::Train, "train_step");
  auto eval =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("model"),
                         StepKind::Eval, "eval_step");
  EXPECT_TRUE(mlir::succeeded(train) && mlir::succeeded(eval));
  steps.train = *train;
  steps.eval = *eval;
  module->walk([&](TaskOp task) {
    steps.weights[task.getName().str()] = task.getWeight().convertToDouble();
  });
  return steps;
}

inline int64_t numel(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

/// Random arguments: params and inputs uniform in [-1, 1] but at least 0.05
/// away from 0 (relu kinks); for `distinct` all values of a tensor differ by
/// >= 0.01 (max_pool kinks); targets in range; masks with a zero.
inline std::map<std::pair<kg::ArgKind, std::string>, HostTensor>
randomArgs(const kg::Function &fn, bool distinct, std::mt19937 &rng) {
  std::map<std::pair<kg::ArgKind, std::string>, HostTensor> args;
  for (const kg::Arg &arg : fn.args) {
    const kg::Value &v = fn.values[arg.value];
    HostTensor t;
    t.shape = v.shape;
    int64_t n = numel(v.shape);
    if (v.dtype == kg::DType::I32) {
      // Class ids for a [N] target of [N, C] logits: C found from the loss
      // node reading it.
      int64_t classes = 1;
      for (const kg::Node &node : fn.nodes)
        if (node.inputs.size() > 1 && node.inputs[1] == arg.value)
          classes = fn.values[node.inputs[0]].shape.back();
      for (int64_t i = 0; i < n; ++i)
        t.i32.push_back(
            std::uniform_int_distribution<int>(0, classes - 1)(rng));
    } else if (arg.kind == kg::ArgKind::Mask) {
      t.f32.assign(n, 1.0f);
      if (n > 1)
        t.f32[1] = 0.0f; // one sample without a label
    } else if (distinct) {
      std::vector<int> perm(n);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(-1.0f + 2.0f * (perm[i] + 0.5f) / n);
    } else {
      std::uniform_real_distribution<float> u(0.05f, 1.0f);
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(rng() % 2 ? u(rng) : -u(rng));
    }
    args[{arg.kind, arg.name}] = t;
  }
  return args;
}

inline std::vector<HostTensor> bindArgs(
    const kg::Function &fn,
    const std::map<std::pair<kg::ArgKind, std::string>, HostTensor> &args) {
  std::vector<HostTensor> bound;
  for (const kg::Arg &arg : fn.args)
    bound.push_back(args.at({arg.kind, arg.name}));
  return bound;
}

inline double objective(
    const Steps &steps,
    const std::map<std::pair<kg::ArgKind, std::string>, HostTensor> &args) {
  std::vector<HostTensor> outs;
  std::string err =
      codegen::evaluate(steps.eval, bindArgs(steps.eval, args), outs);
  EXPECT_EQ(err, "");
  double total = 0;
  for (size_t i = 0; i < steps.eval.outputs.size(); ++i)
    if (steps.eval.outputs[i].kind == kg::ArgKind::Loss)
      total += steps.weights.at(steps.eval.outputs[i].name) * outs[i].f32[0];
  return total;
}

using Args = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

/// Checks every parameter's gradient at up to `samples` coordinates. `fix`
/// may adjust the random arguments first (valid boxes, targets in [0, 1]).
inline void gradCheck(const std::string &source, bool distinct = false,
                      int samples = 12,
                      const std::function<void(Args &)> &fix = nullptr) {
  Steps steps = compile(source);
  std::mt19937 rng(42);
  auto args = randomArgs(steps.train, distinct, rng);
  if (fix)
    fix(args);
  std::vector<HostTensor> outs;
  ASSERT_EQ(codegen::evaluate(steps.train, bindArgs(steps.train, args), outs),
            "");
  int checked = 0;
  for (size_t o = 0; o < steps.train.outputs.size(); ++o) {
    const kg::Arg &out = steps.train.outputs[o];
    if (out.kind != kg::ArgKind::Grad)
      continue;
    HostTensor &param = args.at({kg::ArgKind::Param, out.name});
    const std::vector<float> &grad = outs[o].f32;
    ASSERT_EQ(grad.size(), param.f32.size()) << out.name;
    std::vector<size_t> coords(param.f32.size());
    std::iota(coords.begin(), coords.end(), 0);
    std::shuffle(coords.begin(), coords.end(), rng);
    coords.resize(std::min<size_t>(coords.size(), samples));
    for (size_t c : coords) {
      const float eps = 1e-3f, saved = param.f32[c];
      param.f32[c] = saved + eps;
      double plus = objective(steps, args);
      param.f32[c] = saved - eps;
      double minus = objective(steps, args);
      param.f32[c] = saved;
      double numeric = (plus - minus) / (2 * eps);
      double tol =
          2e-3 + 2e-2 * std::max(std::abs(numeric), std::abs(double(grad[c])));
      EXPECT_NEAR(grad[c], numeric, tol)
          << "d objective / d " << out.name << "[" << c << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// A loss on a value: `%y` (shape Y) is compared by MSE with a random target.
inline std::string mseTail(const std::string &y, const std::string &shape,
                           int64_t batch,
                           const std::string &yType = "tensor<*xf32>") {
  std::string b = std::to_string(batch);
  return "  %t = mtl.target \"t\" : tensor<" + shape +
         "xf32>\n"
         "  %m = mtl.mask \"t\" : tensor<" +
         b +
         "xf32>\n"
         "  %l = mtl.mse " +
         y + ", %t, %m : (" + yType + ", tensor<" + shape + "xf32>, tensor<" +
         b +
         "xf32>) -> tensor<*xf32>\n"
         "  mtl.task \"t\" loss(%l : tensor<*xf32>) prediction(" +
         y + " : " + yType +
         ") {weight = 1.5 : f64}\n"
         "  return\n}\n";
}

} // namespace mtl::gradcheck

#endif // MTL_TEST_UNIT_PASSES_GRADCHECK_H
