//===- FusionEquivalenceTest.cpp - Fused builds compute the same step -----===//
//
// A multi-head model (dense heads with and without bias and activations, and
// conv heads, on one conv backbone; softmax CE, MSE and smooth-L1 losses) is
// compiled with every combination of the cross-task fusions (heads, join,
// epilogue, losses); each train and eval step must give the losses,
// predictions and gradients of the unfused build, to 1e-4 relative, on the
// same parameters and batch.
//
//===----------------------------------------------------------------------===//
#include "codegen/Evaluate.h"
#include "ir/MtlOps.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

using namespace mtl;
using codegen::HostTensor;

namespace {

const char *kModel = R"(func.func @model() {
  %x = mtl.input "image" : tensor<4x6x6x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x4xf32>
  %b = mtl.param "c.bias" : tensor<4xf32>
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<4x6x6x1xf32>, tensor<3x3x1x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  %r = mtl.relu %c : (tensor<*xf32>) -> tensor<*xf32>
  %f = mtl.flatten %r : (tensor<*xf32>) -> tensor<*xf32>
  %w1 = mtl.param "a.weight" : tensor<144x5xf32>
  %b1 = mtl.param "a.bias" : tensor<5xf32>
  %y1 = mtl.dense %f, %w1, %b1 : (tensor<*xf32>, tensor<144x5xf32>, tensor<5xf32>) -> tensor<*xf32>
  %t1 = mtl.target "a" : tensor<4xi32>
  %m1 = mtl.mask "a" : tensor<4xf32>
  %l1 = mtl.softmax_cross_entropy %y1, %t1, %m1 : (tensor<*xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "a" loss(%l1 : tensor<*xf32>) prediction(%y1 : tensor<*xf32>) {weight = 0.7 : f64}
  %w2 = mtl.param "b.weight" : tensor<144x3xf32>
  %b2 = mtl.param "b.bias" : tensor<3xf32>
  %y2 = mtl.dense %f, %w2, %b2 : (tensor<*xf32>, tensor<144x3xf32>, tensor<3xf32>) -> tensor<*xf32>
  %t2 = mtl.target "b" : tensor<4x3xf32>
  %m2 = mtl.mask "b" : tensor<4xf32>
  %l2 = mtl.mse %y2, %t2, %m2 : (tensor<*xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "b" loss(%l2 : tensor<*xf32>) prediction(%y2 : tensor<*xf32>)
  %k1 = mtl.param "s.weight" : tensor<3x3x4x2xf32>
  %s1 = mtl.conv2d %r, %k1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<*xf32>, tensor<3x3x4x2xf32>) -> tensor<*xf32>
  %k2 = mtl.param "s2.weight" : tensor<3x3x4x1xf32>
  %s2 = mtl.conv2d %r, %k2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<*xf32>, tensor<3x3x4x1xf32>) -> tensor<*xf32>
  %t3 = mtl.target "s" : tensor<4x6x6x2xf32>
  %m3 = mtl.mask "s" : tensor<4xf32>
  %l3 = mtl.mse %s1, %t3, %m3 : (tensor<*xf32>, tensor<4x6x6x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "s" loss(%l3 : tensor<*xf32>) prediction(%s1 : tensor<*xf32>)
  %t4 = mtl.target "s2" : tensor<4x6x6x1xf32>
  %m4 = mtl.mask "s2" : tensor<4xf32>
  %l4 = mtl.mse %s2, %t4, %m4 : (tensor<*xf32>, tensor<4x6x6x1xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "s2" loss(%l4 : tensor<*xf32>) prediction(%s2 : tensor<*xf32>) {weight = 2.0 : f64}
  %w5 = mtl.param "d.weight" : tensor<144x6xf32>
  %h5 = mtl.dense %f, %w5 : (tensor<*xf32>, tensor<144x6xf32>) -> tensor<*xf32>
  %g5 = mtl.param "d.bn.gamma" : tensor<6xf32>
  %be5 = mtl.param "d.bn.beta" : tensor<6xf32>
  %rm5 = mtl.state "d.bn.running_mean" : tensor<6xf32>
  %rv5 = mtl.state "d.bn.running_var" : tensor<6xf32>
  %n5 = mtl.batch_norm %h5, %g5, %be5, %rm5, %rv5 : (tensor<*xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<*xf32>
  %r5 = mtl.relu %n5 : (tensor<*xf32>) -> tensor<*xf32>
  %w6 = mtl.param "d2.weight" : tensor<6x2xf32>
  %b6 = mtl.param "d2.bias" : tensor<2xf32>
  %y5 = mtl.dense %r5, %w6, %b6 : (tensor<*xf32>, tensor<6x2xf32>, tensor<2xf32>) -> tensor<*xf32>
  %p5 = mtl.sigmoid %y5 : (tensor<*xf32>) -> tensor<*xf32>
  %t5 = mtl.target "d" : tensor<4x2xf32>
  %m5 = mtl.mask "d" : tensor<4xf32>
  %l5 = mtl.mse %p5, %t5, %m5 : (tensor<*xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "d" loss(%l5 : tensor<*xf32>) prediction(%p5 : tensor<*xf32>)
  %w7 = mtl.param "e.weight" : tensor<144x5xf32>
  %h7 = mtl.dense %f, %w7 : (tensor<*xf32>, tensor<144x5xf32>) -> tensor<*xf32>
  %r7 = mtl.relu %h7 : (tensor<*xf32>) -> tensor<*xf32>
  %w8 = mtl.param "e2.weight" : tensor<5x3xf32>
  %y7 = mtl.dense %r7, %w8 : (tensor<*xf32>, tensor<5x3xf32>) -> tensor<*xf32>
  %q7 = mtl.tanh %y7 : (tensor<*xf32>) -> tensor<*xf32>
  %p7 = mtl.leaky_relu %q7 {alpha = 0.1} : (tensor<*xf32>) -> tensor<*xf32>
  %t7 = mtl.target "e" : tensor<4x3xf32>
  %m7 = mtl.mask "e" : tensor<4xf32>
  %l7 = mtl.smooth_l1 %p7, %t7, %m7 : (tensor<*xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "e" loss(%l7 : tensor<*xf32>) prediction(%p7 : tensor<*xf32>)
  %wp = mtl.param "p.weight" : tensor<3x3x1x4xf32>
  %cp = mtl.conv2d %x, %wp {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<4x6x6x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  %pp = mtl.max_pool %cp {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32>
  %rp = mtl.relu %pp : (tensor<*xf32>) -> tensor<*xf32>
  %fp = mtl.flatten %rp : (tensor<*xf32>) -> tensor<*xf32>
  %w9 = mtl.param "p2.weight" : tensor<36x2xf32>
  %y9 = mtl.dense %fp, %w9 : (tensor<*xf32>, tensor<36x2xf32>) -> tensor<*xf32>
  %t9 = mtl.target "p" : tensor<4x2xf32>
  %m9 = mtl.mask "p" : tensor<4xf32>
  %l9 = mtl.mse %y9, %t9, %m9 : (tensor<*xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "p" loss(%l9 : tensor<*xf32>) prediction(%y9 : tensor<*xf32>)
  return
})";

struct Build {
  kg::Function train, eval;
  // Evidence that each fusion happened.
  int concats = 0;    // heads / join: concatenated operands
  int epilogues = 0;  // epilogue: nodes marked mtl.fused_epilogue
  int lossGroups = 0; // losses: nodes marked mtl.loss_group
};

Build compile(const FusionOptions &fusion) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<MtlDialect, mlir::func::FuncDialect>();
  // The fusions report what they did as remarks: not errors.
  mlir::ScopedDiagnosticHandler quiet(&ctx, [](mlir::Diagnostic &d) {
    return mlir::success(d.getSeverity() == mlir::DiagnosticSeverity::Remark);
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kModel, &ctx);
  EXPECT_TRUE(module);
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm, fusion);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  Build b;
  b.train = *lowerToKernelGraph(
      module->lookupSymbol<mlir::func::FuncOp>("train_step"), StepKind::Train,
      "train_step");
  b.eval =
      *lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("model"),
                          StepKind::Eval, "eval_step");
  for (const kg::Node &n : b.train.nodes) {
    b.concats += n.op == "concat";
    b.epilogues += n.ints.count("mtl.fused_epilogue");
    b.lossGroups += n.ints.count("mtl.loss_group");
  }
  return b;
}

using Args = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

Args randomArgs(const kg::Function &fn) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  Args args;
  for (const kg::Arg &a : fn.args) {
    const kg::Value &v = fn.values[a.value];
    HostTensor t;
    t.shape = v.shape;
    size_t n = 1;
    for (int64_t d : v.shape)
      n *= d;
    if (v.dtype == kg::DType::I32)
      for (size_t i = 0; i < n; ++i)
        t.i32.push_back(int(rng() % 3));
    else if (a.kind == kg::ArgKind::Mask)
      t.f32.assign(n, 1.0f);
    else if (a.kind == kg::ArgKind::State) // running statistics: var > 0
      for (size_t i = 0; i < n; ++i)
        t.f32.push_back(0.5f + 0.5f * std::abs(u(rng)));
    else
      for (size_t i = 0; i < n; ++i)
        t.f32.push_back(u(rng));
    args[{a.kind, a.name}] = t;
  }
  return args;
}

/// Runs `fn` on `args`; outputs by (kind, name).
Args run(const kg::Function &fn, const Args &args) {
  std::vector<HostTensor> in, out;
  for (const kg::Arg &a : fn.args)
    in.push_back(args.at({a.kind, a.name}));
  EXPECT_EQ(codegen::evaluate(fn, in, out), "");
  Args byName;
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    byName[{fn.outputs[i].kind, fn.outputs[i].name}] = out[i];
  return byName;
}

void expectSame(const Args &fused, const Args &reference, const char *what) {
  ASSERT_EQ(fused.size(), reference.size()) << what;
  for (const auto &[key, ref] : reference) {
    const HostTensor &got = fused.at(key);
    ASSERT_EQ(got.f32.size(), ref.f32.size());
    double maxAbs = 1e-6, maxDiff = 0;
    for (size_t i = 0; i < ref.f32.size(); ++i) {
      maxAbs = std::max(maxAbs, double(std::abs(ref.f32[i])));
      maxDiff = std::max(maxDiff, double(std::abs(got.f32[i] - ref.f32[i])));
    }
    EXPECT_LE(maxDiff / maxAbs, 1e-4)
        << what << ": " << kg::toString(key.first) << " '" << key.second
        << "' differs from the unfused build";
  }
}

class FusionEquivalence : public ::testing::TestWithParam<FusionOptions> {};

const FusionOptions kUnfused{/*heads=*/false, /*join=*/false,
                             /*epilogue=*/false, /*losses=*/false};

/// The unfused build and its outputs, computed once for every combination.
struct Reference {
  Build build;
  Args args, train, eval;
};
const Reference &reference() {
  static const Reference r = [] {
    Reference r;
    r.build = compile(kUnfused);
    r.args = randomArgs(r.build.train);
    r.train = run(r.build.train, r.args);
    r.eval = run(r.build.eval, r.args);
    return r;
  }();
  return r;
}

TEST_P(FusionEquivalence, SameLossesPredictionsAndGradients) {
  const FusionOptions &f = GetParam();
  const Reference &ref = reference();
  Build fused = compile(f);
  EXPECT_EQ(ref.build.concats + ref.build.epilogues + ref.build.lossGroups, 0);
  if (f.heads || f.join)
    EXPECT_GT(fused.concats, 0) << "heads/join fusion did not apply";
  if (f.epilogue)
    EXPECT_GT(fused.epilogues, 0) << "epilogue fusion did not apply";
  if (f.losses)
    EXPECT_EQ(fused.lossGroups, 2 * 7) << "each loss with its gradient";
  expectSame(run(fused.train, ref.args), ref.train, "train_step");
  expectSame(run(fused.eval, ref.args), ref.eval, "eval_step");
}

/// Each fusion alone, heads + epilogue (the heads' activations hoisted
/// above the slices), heads + join (CSE across them), and all four; every
/// one of the 15 combinations with MTL_FUSION_ALL_COMBINATIONS=1 (about 5
/// minutes on 2 cores: each build is JIT-compiled).
std::vector<FusionOptions> combinations() {
  std::vector<int> masks = {1, 2, 4, 8, 1 | 4, 1 | 2, 15};
  if (const char *all = std::getenv("MTL_FUSION_ALL_COMBINATIONS"))
    if (std::string(all) == "1") {
      masks.clear();
      for (int m = 1; m < 16; ++m)
        masks.push_back(m);
    }
  std::vector<FusionOptions> out;
  // The cost model off: every candidate group is rewritten (the small test
  // shapes would not pay for the copies), which is what this test checks.
  for (int m : masks)
    out.push_back({bool(m & 1), bool(m & 2), bool(m & 4), bool(m & 8), false});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fusions, FusionEquivalence,
                         ::testing::ValuesIn(combinations()),
                         [](const auto &info) {
                           const FusionOptions &f = info.param;
                           return std::string(f.heads ? "heads" : "noheads") +
                                  "_" + (f.join ? "join" : "nojoin") + "_" +
                                  (f.epilogue ? "epilogue" : "noepilogue") +
                                  "_" + (f.losses ? "losses" : "nolosses");
                         });

/// Where epilogue fusion applies in the reference model's train step, and
/// where it must not (leaky_relu_grad reads the tanh's output: the tanh's
/// result has two users, so leaky_relu stays a stage of its own).
TEST(EpilogueFusion, MarksOnlySingleUseProducts) {
  Build b = compile({false, false, true, false});
  std::map<std::string, int> marked;
  for (const kg::Node &n : b.train.nodes)
    if (n.ints.count("mtl.fused_epilogue"))
      ++marked[n.op];
  // conv->relu, d: dense->batch_norm_train->relu, dense->sigmoid, e:
  // dense->relu, dense->tanh, p: max_pool->relu.
  EXPECT_EQ(marked["relu"], 4);
  EXPECT_EQ(marked["sigmoid"], 1);
  EXPECT_EQ(marked["tanh"], 1);
  EXPECT_EQ(marked["leaky_relu"], 0);
  // The eval step has no leaky_relu_grad: the whole chain fuses; and d's
  // inference batch norm is the dense's epilogue (its relu follows it).
  int evalLeaky = 0, evalBatchNorm = 0;
  for (const kg::Node &n : b.eval.nodes) {
    evalLeaky += n.op == "leaky_relu" && n.ints.count("mtl.fused_epilogue");
    evalBatchNorm += n.op == "batch_norm" && n.ints.count("mtl.fused_epilogue");
  }
  EXPECT_EQ(evalLeaky, 1);
  EXPECT_EQ(evalBatchNorm, 1);
}

} // namespace
