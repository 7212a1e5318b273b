//===- GpuTest.cpp - The CUDA build on a GPU against the CPU build --------===//
//
// Needs a GPU: every test here skips (GTEST_SKIP, which ctest reports as
// skipped) when libcuda cannot be initialized or has no device.
//
// * TrainStepMatchesCpu/<example>: each example's train step (batch 8),
//   lowered for CUDA (the GPU schedules of every op it uses, forward and
//   backward) and run on the device, gives the losses, predictions, state
//   updates and every parameter gradient of the CPU build (whose gradients
//   the passes tests check against finite differences) to 1e-3 relative.
// * FusedMatchesUnfused: the reference network with every cross-task fusion
//   and with none, both on the GPU, to 1e-3 relative.
// * DirectionalDerivative: on the GPU, the train step's gradient along a
//   the gradient direction against central differences of its
//   weighted loss.
//
//===----------------------------------------------------------------------===//
#include "test/gpu/GpuEval.h"

#include "codegen/Evaluate.h"
#include "frontend/MLIRGen.h"
#include "frontend/SpecParser.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

using namespace mtl;
using codegen::HostTensor;

namespace {

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!gputest::cudaAvailable(why))                                          \
      GTEST_SKIP() << "skipped: " << why;                                      \
  } while (0)

std::string examplePath(const std::string &name) {
  return gputest::sourceDir() + "/examples/" + name + ".toml";
}

struct Built {
  kg::Function train;
  std::map<std::string, double> weights; // task -> loss weight
};

/// The spec's train step with batch `batch`, as `mtlc build` lowers it.
Built buildTrainStep(const std::string &path, int64_t batch,
                     const FusionOptions &fusion = FusionOptions()) {
  Built b;
  DiagnosticEngine diags;
  std::optional<spec::Spec> spec = parseSpecFile(path, diags);
  EXPECT_TRUE(spec) << path << " does not parse";
  if (!spec)
    return b;
  spec->train.batch = batch;
  for (const spec::Task &t : spec->tasks)
    b.weights[t.name] = t.weight;
  mlir::MLIRContext ctx;
  mlir::ScopedDiagnosticHandler handler(&ctx, [](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      ADD_FAILURE() << d.str();
    return mlir::success();
  });
  auto module = mlirGen(ctx, *spec);
  EXPECT_TRUE(module);
  if (!module)
    return b;
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm, fusion);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  auto fn =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("train_step"),
                         StepKind::Train, "train_step");
  EXPECT_TRUE(mlir::succeeded(fn));
  if (mlir::succeeded(fn))
    b.train = *fn;
  return b;
}

double maxAbs(const HostTensor &t) {
  double m = 0;
  for (float v : t.f32)
    m = std::max(m, double(std::abs(v)));
  for (int32_t v : t.i32)
    m = std::max(m, double(std::abs(v)));
  return m;
}

/// Every output of `got` against `want`: max |a - b| / max|b| <= tol, with
/// a floor of 1e-3 of the largest value among outputs of the same kind. A
/// gradient that is zero in exact arithmetic (a conv bias before batch norm:
/// ~1e-6 against 0.45 for the largest gradient of the reference network) is
/// round-off on both sides, and round-off relative to round-off says
/// nothing: such an output (below 1e-4 of the largest) must differ by at
/// most 1e-5 of the largest.
void expectClose(const kg::Function &fn, const std::vector<HostTensor> &got,
                 const std::vector<HostTensor> &want, double tol,
                 const std::string &what) {
  ASSERT_EQ(got.size(), want.size());
  std::map<kg::ArgKind, double> largest;
  for (size_t k = 0; k < want.size(); ++k)
    largest[fn.outputs[k].kind] =
        std::max(largest[fn.outputs[k].kind], maxAbs(want[k]));
  double worst = 0;
  std::string worstName;
  for (size_t k = 0; k < want.size(); ++k) {
    const HostTensor &a = got[k], &b = want[k];
    ASSERT_EQ(a.f32.size(), b.f32.size());
    double diff = 0;
    for (size_t i = 0; i < a.f32.size(); ++i) {
      ASSERT_TRUE(std::isfinite(a.f32[i]))
          << what << ": " << kg::toString(fn.outputs[k].kind) << " "
          << fn.outputs[k].name << "[" << i << "] = " << a.f32[i];
      diff = std::max(diff, double(std::abs(a.f32[i] - b.f32[i])));
    }
    for (size_t i = 0; i < a.i32.size() && i < b.i32.size(); ++i)
      diff = std::max(diff, double(std::abs(a.i32[i] - b.i32[i])));
    double big = largest[fn.outputs[k].kind];
    double rel;
    if (maxAbs(b) < 1e-4 * big)
      // Zero in exact arithmetic (round-off on both sides): only its size
      // against the step's largest value of the kind means anything, and
      // 1e-5 of it leaves 10x room over what the CPU builds differ by.
      rel = tol * diff / std::max(1e-5 * big, 1e-30);
    else
      rel = diff / std::max({maxAbs(b), 1e-3 * big, 1e-30});
    std::string name = std::string(kg::toString(fn.outputs[k].kind)) + " " +
                       fn.outputs[k].name;
    EXPECT_LE(rel, tol) << what << ": " << name << " differs by " << rel
                        << " (relative; max |diff| " << diff << ", max |want| "
                        << maxAbs(b) << ", largest of its kind "
                        << largest[fn.outputs[k].kind] << ")";
    if (rel > worst) {
      worst = rel;
      worstName = name;
    }
  }
  std::printf("%s: %zu outputs, largest relative difference %.2e (%s)\n",
              what.c_str(), want.size(), worst, worstName.c_str());
}

class TrainStepMatchesCpu : public ::testing::TestWithParam<const char *> {};

TEST_P(TrainStepMatchesCpu, Example) {
  REQUIRE_GPU();
  Built b = buildTrainStep(examplePath(GetParam()), 8);
  ASSERT_FALSE(b.train.name.empty());
  std::vector<HostTensor> args = codegen::randomArgs(b.train, 7), cpu, gpu;
  ASSERT_EQ(codegen::evaluate(b.train, args, cpu), "");
  ASSERT_EQ(gputest::evaluateCuda(b.train, args, gpu), "");
  expectClose(b.train, gpu, cpu, 1e-3,
              std::string(GetParam()) + " train step, GPU vs CPU");
}

INSTANTIATE_TEST_SUITE_P(Gpu, TrainStepMatchesCpu,
                         ::testing::Values("fashion_detect", "multi_fashion",
                                           "sequential_lstm", "vae",
                                           "fashion_mtl"),
                         [](const auto &info) {
                           return std::string(info.param);
                         });

TEST(Gpu, FusedMatchesUnfused) {
  REQUIRE_GPU();
  FusionOptions none;
  for (auto &[name, flag] : FusionOptions::flags())
    none.*flag = false;
  FusionOptions all; // every candidate rewritten, whatever it costs
  all.costModel = false;
  Built fused = buildTrainStep(examplePath("fashion_detect"), 8, all);
  Built unfused = buildTrainStep(examplePath("fashion_detect"), 8, none);
  ASSERT_FALSE(fused.train.name.empty() || unfused.train.name.empty());
  // Outputs are matched by (kind, name): the fused build may order them
  // differently.
  auto run = [](const kg::Function &fn, const std::vector<HostTensor> &args,
                std::map<std::string, HostTensor> &out) {
    std::vector<HostTensor> v;
    ASSERT_EQ(gputest::evaluateCuda(fn, args, v), "");
    for (size_t k = 0; k < fn.outputs.size(); ++k)
      out[std::string(kg::toString(fn.outputs[k].kind)) + " " +
          fn.outputs[k].name] = v[k];
  };
  std::vector<HostTensor> argsU = codegen::randomArgs(unfused.train, 11);
  std::map<std::pair<int, std::string>, HostTensor> byName;
  for (size_t k = 0; k < unfused.train.args.size(); ++k)
    byName[{int(unfused.train.args[k].kind), unfused.train.args[k].name}] =
        argsU[k];
  std::vector<HostTensor> argsF;
  for (const kg::Arg &a : fused.train.args)
    argsF.push_back(byName.at({int(a.kind), a.name}));
  std::map<std::string, HostTensor> outF, outU;
  run(fused.train, argsF, outF);
  run(unfused.train, argsU, outU);
  ASSERT_EQ(outF.size(), outU.size());
  std::vector<HostTensor> got, want;
  for (size_t k = 0; k < unfused.train.outputs.size(); ++k) {
    const kg::Arg &o = unfused.train.outputs[k];
    std::string key = std::string(kg::toString(o.kind)) + " " + o.name;
    ASSERT_TRUE(outF.count(key)) << key;
    got.push_back(outF[key]);
    want.push_back(outU[key]);
  }
  expectClose(unfused.train, got, want, 1e-3,
              "fashion_detect on the GPU, all fusions vs none");
}

TEST(Gpu, DirectionalDerivative) {
  REQUIRE_GPU();
  // fashion_mtl: no batch norm, dropout or sampling, so the train step's
  // losses are a smooth function of the parameters alone.
  Built b = buildTrainStep(examplePath("fashion_mtl"), 8);
  const kg::Function &fn = b.train;
  ASSERT_FALSE(fn.name.empty());
  std::vector<HostTensor> args = codegen::randomArgs(fn, 3), out;
  ASSERT_EQ(gputest::evaluateCuda(fn, args, out), "");
  // The direction is the gradient itself (unit length): the derivative
  // along it is |g|, large against the round-off of fp32 losses and the
  // ReLU kinks a random direction's small derivative would drown in.
  std::map<std::string, HostTensor> dir; // param -> direction
  double norm2 = 0;
  for (size_t k = 0; k < fn.outputs.size(); ++k)
    if (fn.outputs[k].kind == kg::ArgKind::Grad)
      for (float g : out[k].f32)
        norm2 += double(g) * g;
  ASSERT_GT(norm2, 0.0);
  double gDotD = std::sqrt(norm2);
  for (size_t k = 0; k < fn.outputs.size(); ++k)
    if (fn.outputs[k].kind == kg::ArgKind::Grad) {
      HostTensor d = out[k];
      for (float &v : d.f32)
        v = float(v / gDotD);
      dir[fn.outputs[k].name] = d;
    }
  ASSERT_FALSE(dir.empty());
  auto lossAt = [&](float eps) {
    std::vector<HostTensor> a = args, o;
    for (size_t k = 0; k < fn.args.size(); ++k)
      if (fn.args[k].kind == kg::ArgKind::Param && dir.count(fn.args[k].name))
        for (size_t i = 0; i < a[k].f32.size(); ++i)
          a[k].f32[i] += eps * dir[fn.args[k].name].f32[i];
    EXPECT_EQ(gputest::evaluateCuda(fn, a, o), "");
    // A step that takes its loss weights as an argument (a weighting
    // strategy) gets ones (randomArgs); else the spec's weights are built in.
    bool weightsArg = false;
    for (const kg::Arg &arg : fn.args)
      weightsArg = weightsArg || arg.kind == kg::ArgKind::LossWeights;
    double l = 0;
    for (size_t k = 0; k < fn.outputs.size() && k < o.size(); ++k)
      if (fn.outputs[k].kind == kg::ArgKind::Loss)
        l +=
            (weightsArg ? 1.0 : b.weights[fn.outputs[k].name]) * o[k].f32.at(0);
    return l;
  };
  const float eps = 3e-3f;
  double fd = (lossAt(eps) - lossAt(-eps)) / (2.0 * eps);
  std::printf("directional derivative: analytic %.6g, central difference "
              "%.6g\n",
              gDotD, fd);
  EXPECT_NEAR(fd, gDotD, 2e-2 * std::max(std::abs(gDotD), 1e-3));
}

} // namespace
