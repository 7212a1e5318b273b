//===- TrainModeGradTest.cpp - batch_norm, dropout, reparameterize --------===//
//
// These ops differ between the train step and evaluation, so their
// gradients are checked against finite differences of the *train step's*
// own losses (training mode: batch statistics, the seeded noise, which is a
// pure function of the fixed seed argument). Plus the values: the running
// statistics update against hand-computed numbers, evaluation mode, the
// dropout mask and the reparameterization noise.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"

#include "codegen/Codegen.h"

#include <cstdlib>

using namespace mtl;
using namespace mtl::gradcheck;

namespace {

using Args = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

std::vector<HostTensor> run(const kg::Function &fn, const Args &args) {
  std::vector<HostTensor> outs;
  std::string err = codegen::evaluate(fn, bindArgs(fn, args), outs);
  EXPECT_EQ(err, "");
  return outs;
}

int outputIndex(const kg::Function &fn, kg::ArgKind kind,
                const std::string &name) {
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    if (fn.outputs[i].kind == kind && fn.outputs[i].name == name)
      return static_cast<int>(i);
  ADD_FAILURE() << "no output " << kg::toString(kind) << ":" << name;
  return 0;
}

double trainObjective(const Steps &steps, const Args &args) {
  std::vector<HostTensor> outs = run(steps.train, args);
  double total = 0;
  for (size_t i = 0; i < steps.train.outputs.size(); ++i)
    if (steps.train.outputs[i].kind == kg::ArgKind::Loss)
      total += steps.weights.at(steps.train.outputs[i].name) * outs[i].f32[0];
  return total;
}

/// Random arguments with a fixed seed and valid running statistics.
Args trainArgs(const Steps &steps, int32_t seed, std::mt19937 &rng) {
  Args args = randomArgs(steps.train, false, rng);
  for (const kg::Arg &a : steps.train.args) {
    if (a.kind == kg::ArgKind::Seed)
      args[{a.kind, a.name}].i32 = {seed};
    if (a.kind == kg::ArgKind::State)
      for (float &v : args[{a.kind, a.name}].f32)
        v = std::abs(v) + 0.5f; // a positive running variance
  }
  return args;
}

/// Every parameter's gradient against central differences of the train
/// step's objective, at up to `samples` coordinates each.
void gradCheckTrain(const std::string &source, int32_t seed, int samples = 12) {
  Steps steps = compile(source);
  std::mt19937 rng(42);
  Args args = trainArgs(steps, seed, rng);
  std::vector<HostTensor> outs = run(steps.train, args);
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
      double plus = trainObjective(steps, args);
      param.f32[c] = saved - eps;
      double minus = trainObjective(steps, args);
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

const char *kBnHeader = R"(func.func @model() {
  %x = mtl.param "x" : tensor<3x2x2x4xf32>
  %g = mtl.param "bn.gamma" : tensor<4xf32>
  %b = mtl.param "bn.beta" : tensor<4xf32>
  %rm = mtl.state "bn.running_mean" : tensor<4xf32>
  %rv = mtl.state "bn.running_var" {init = "ones"} : tensor<4xf32>
  %y = mtl.batch_norm %x, %g, %b, %rm, %rv {momentum = 0.2 : f64, eps = 1.0e-3 : f64} : (tensor<3x2x2x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<*xf32>
)";

/// `%y = tanh(batch_norm(input))` with `bn.*` parameters and states of C
/// channels: the objective then depends on the input through the batch
/// mean and variance in a nonlinear way.
std::string batchNormThroughTanh(const std::string &input, int C) {
  const std::string c = "tensor<" + std::to_string(C) + "xf32>";
  return "  %g = mtl.param \"bn.gamma\" : " + c + "\n" +
         "  %b = mtl.param \"bn.beta\" : " + c + "\n" +
         "  %rm = mtl.state \"bn.running_mean\" : " + c + "\n" +
         "  %rv = mtl.state \"bn.running_var\" {init = \"ones\"} : " + c +
         "\n" + "  %n = mtl.batch_norm " + input +
         ", %g, %b, %rm, %rv : (tensor<*xf32>, " + c + ", " + c + ", " + c +
         ", " + c + ") -> tensor<*xf32>\n" +
         "  %y = mtl.tanh %n : (tensor<*xf32>) -> tensor<*xf32>\n";
}

} // namespace

TEST(TrainModeGrad, BatchNormNHWCTrainStep) {
  gradCheckTrain(std::string(kBnHeader) + mseTail("%y", "3x2x2x4", 3), 0, 16);
}

TEST(TrainModeGrad, BatchNormAfterDenseThroughTanh) {
  // [N, C] features.
  gradCheckTrain(R"(func.func @model() {
  %x = mtl.param "x" : tensor<6x3xf32>
  %w = mtl.param "d.weight" : tensor<3x5xf32>
  %h = mtl.dense %x, %w : (tensor<6x3xf32>, tensor<3x5xf32>) -> tensor<*xf32>
)" + batchNormThroughTanh("%h", 5) +
                     mseTail("%y", "6x5", 6),
                 0, 12);
}

TEST(TrainModeGrad, BiasBeforeBatchNorm) {
  // A bias the batch norm subtracts again: its gradient is zero, which
  // codegen takes in closed form from per-channel sums (TrainMode.cpp)
  // instead of a pass over the input gradient; the central differences of
  // the objective say the same, and every other gradient is unchanged.
  gradCheckTrain(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x3x4xf32>
  %w = mtl.param "c.weight" : tensor<3x3x4x6xf32>
  %cb = mtl.param "c.bias" : tensor<6xf32>
  %h = mtl.conv2d %x, %w, %cb {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x3x3x4xf32>, tensor<3x3x4x6xf32>, tensor<6xf32>) -> tensor<*xf32>
)" + batchNormThroughTanh("%h", 6) +
                     mseTail("%y", "2x3x3x6", 2),
                 0, 12);
}

namespace {
/// Per-channel batch mean and (biased) variance of an [M, C] view of x, in
/// double.
void batchMoments(const HostTensor &x, int M, int C, std::vector<double> &mean,
                  std::vector<double> &var) {
  mean.assign(C, 0);
  var.assign(C, 0);
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c)
      mean[c] += x.f32[i * C + c] / double(M);
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c)
      var[c] += std::pow(x.f32[i * C + c] - mean[c], 2) / double(M);
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta, elementwise, within tol.
void expectNormalized(const HostTensor &y, const HostTensor &x, int M, int C,
                      const std::vector<double> &mean,
                      const std::vector<double> &var, const HostTensor &g,
                      const HostTensor &b, double eps, double tol) {
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c)
      EXPECT_NEAR(y.f32[i * C + c],
                  (x.f32[i * C + c] - mean[c]) / std::sqrt(var[c] + eps) *
                          g.f32[c] +
                      b.f32[c],
                  tol)
          << i << ", " << c;
}
} // namespace

TEST(TrainModeGrad, BatchNormRunningStatisticsAndEval) {
  Steps steps = compile(std::string(kBnHeader) + mseTail("%y", "3x2x2x4", 3));
  std::mt19937 rng(7);
  Args args = trainArgs(steps, 0, rng);
  const HostTensor &x = args.at({kg::ArgKind::Param, "x"});
  const HostTensor &rm = args.at({kg::ArgKind::State, "bn.running_mean"});
  const HostTensor &rv = args.at({kg::ArgKind::State, "bn.running_var"});
  const HostTensor &g = args.at({kg::ArgKind::Param, "bn.gamma"});
  const HostTensor &b = args.at({kg::ArgKind::Param, "bn.beta"});
  const int C = 4, M = 12;
  std::vector<double> mean, var;
  batchMoments(x, M, C, mean, var);

  std::vector<HostTensor> outs = run(steps.train, args);
  const HostTensor &newMean =
      outs[outputIndex(steps.train, kg::ArgKind::StateOut, "bn.running_mean")];
  const HostTensor &newVar =
      outs[outputIndex(steps.train, kg::ArgKind::StateOut, "bn.running_var")];
  const HostTensor &train =
      outs[outputIndex(steps.train, kg::ArgKind::Prediction, "t")];
  for (int c = 0; c < C; ++c) {
    // PyTorch: momentum 0.2, the running variance unbiased (M / (M - 1)).
    EXPECT_NEAR(newMean.f32[c], 0.8 * rm.f32[c] + 0.2 * mean[c], 1e-5) << c;
    EXPECT_NEAR(newVar.f32[c], 0.8 * rv.f32[c] + 0.2 * var[c] * M / (M - 1),
                1e-5)
        << c;
  }
  // Training mode normalizes with the batch statistics ...
  expectNormalized(train, x, M, C, mean, var, g, b, 1e-3, 1e-4);
  // ... evaluation with the running statistics.
  std::vector<HostTensor> evalOuts = run(steps.eval, args);
  const HostTensor &eval =
      evalOuts[outputIndex(steps.eval, kg::ArgKind::Prediction, "t")];
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c)
      EXPECT_NEAR(eval.f32[i * C + c],
                  (x.f32[i * C + c] - rm.f32[c]) / std::sqrt(rv.f32[c] + 1e-3) *
                          g.f32[c] +
                      b.f32[c],
                  1e-4);
}

// batch_stats reads x once (sums around a shift, the first sample's channel
// mean): a batch whose mean is far from zero, whose first sample sits apart
// from the rest, must still give the variance E[x^2] - E[x]^2 would lose
// in fp32 (mean 1000, spread ~1: x^2 ~ 1e6, fp32's ulp there 0.06).
TEST(TrainModeGrad, BatchStatisticsOfAnOffsetBatch) {
  Steps steps = compile(std::string(kBnHeader) + mseTail("%y", "3x2x2x4", 3));
  std::mt19937 rng(11);
  Args args = trainArgs(steps, 0, rng);
  HostTensor &x = args.at({kg::ArgKind::Param, "x"});
  const HostTensor &rv = args.at({kg::ArgKind::State, "bn.running_var"});
  const int C = 4, M = 12;
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (int i = 0; i < M; ++i)
    for (int c = 0; c < C; ++c)
      x.f32[i * C + c] =
          1000.0f + 10.0f * c + (i < 4 ? 3.0f : 0.0f) + noise(rng);
  std::vector<double> mean, var;
  batchMoments(x, M, C, mean, var);
  std::vector<HostTensor> outs = run(steps.train, args);
  const HostTensor &newVar =
      outs[outputIndex(steps.train, kg::ArgKind::StateOut, "bn.running_var")];
  const HostTensor &train =
      outs[outputIndex(steps.train, kg::ArgKind::Prediction, "t")];
  for (int c = 0; c < C; ++c) {
    ASSERT_GT(var[c], 0.5) << c;
    double batchVar = (newVar.f32[c] - 0.8 * rv.f32[c]) / 0.2 * (M - 1) / M;
    EXPECT_NEAR(batchVar, var[c], 1e-3 * var[c]) << c;
  }
  // The normalized output has the batch's mean 0 and variance ~1 per channel.
  const HostTensor &g = args.at({kg::ArgKind::Param, "bn.gamma"});
  const HostTensor &b = args.at({kg::ArgKind::Param, "bn.beta"});
  expectNormalized(train, x, M, C, mean, var, g, b, 1e-3, 1e-3);
}

namespace {
const char *kDropout = R"(func.func @model() {
  %x = mtl.param "x" : tensor<64x128xf32>
  %s = mtl.seed : tensor<i32>
  %y = mtl.dropout %x, %s {rate = 0.4 : f64, stream = 5} : (tensor<64x128xf32>, tensor<i32>) -> tensor<*xf32>
)";
} // namespace

TEST(TrainModeGrad, DropoutTrainStep) {
  gradCheckTrain(R"(func.func @model() {
  %x = mtl.param "x" : tensor<4x2x2x6xf32>
  %s = mtl.seed : tensor<i32>
  %d = mtl.dropout %x, %s {rate = 0.3 : f64, stream = 9} : (tensor<4x2x2x6xf32>, tensor<i32>) -> tensor<*xf32>
  %y = mtl.tanh %d : (tensor<*xf32>) -> tensor<*xf32>
)" + mseTail("%y", "4x2x2x6", 4),
                 12345, 24);
}

TEST(TrainModeGrad, DropoutMask) {
  Steps steps = compile(std::string(kDropout) + mseTail("%y", "64x128", 64));
  std::mt19937 rng(3);
  Args args = trainArgs(steps, 77, rng);
  const std::vector<float> &x = args.at({kg::ArgKind::Param, "x"}).f32;
  int p = outputIndex(steps.train, kg::ArgKind::Prediction, "t");
  std::vector<float> y = run(steps.train, args)[p].f32;
  size_t dropped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0.0f)
      ++dropped;
    else
      ASSERT_NEAR(y[i], x[i] / 0.6f, 1e-6) << i;
  }
  EXPECT_NEAR(double(dropped) / x.size(), 0.4, 0.02);
  // The same seed gives the same mask; another seed another one.
  EXPECT_EQ(run(steps.train, args)[p].f32, y);
  args.at({kg::ArgKind::Seed, "seed"}).i32 = {78};
  std::vector<float> y2 = run(steps.train, args)[p].f32;
  size_t differ = 0;
  for (size_t i = 0; i < y.size(); ++i)
    differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
  EXPECT_GT(differ, x.size() / 4);
  // Evaluation: the identity.
  std::vector<HostTensor> ev = run(steps.eval, args);
  EXPECT_EQ(ev[outputIndex(steps.eval, kg::ArgKind::Prediction, "t")].f32, x);
}

TEST(TrainModeGrad, DropoutStreamsDiffer) {
  // Two dropout layers of the same shape on the same seed draw different
  // masks (their streams differ).
  Steps steps = compile(R"(func.func @model() {
  %x = mtl.param "x" : tensor<16x64xf32>
  %s = mtl.seed : tensor<i32>
  %a = mtl.dropout %x, %s {rate = 0.5 : f64, stream = 1} : (tensor<16x64xf32>, tensor<i32>) -> tensor<*xf32>
  %y = mtl.dropout %a, %s {rate = 0.5 : f64, stream = 2} : (tensor<*xf32>, tensor<i32>) -> tensor<*xf32>
)" + mseTail("%y", "16x64", 16));
  std::mt19937 rng(5);
  Args args = trainArgs(steps, 3, rng);
  int p = outputIndex(steps.train, kg::ArgKind::Prediction, "t");
  std::vector<float> y = run(steps.train, args)[p].f32;
  size_t kept = 0;
  for (float v : y)
    kept += v != 0.0f;
  // Independent masks keep a quarter; identical ones would keep a half.
  EXPECT_NEAR(double(kept) / y.size(), 0.25, 0.04);
}

namespace {
const char *kReparam = R"(func.func @model() {
  %mu = mtl.param "mu" : tensor<64x128xf32>
  %lv = mtl.param "lv" : tensor<64x128xf32>
  %s = mtl.seed : tensor<i32>
  %y = mtl.reparameterize %mu, %lv, %s {stream = 4} : (tensor<64x128xf32>, tensor<64x128xf32>, tensor<i32>) -> tensor<*xf32>
)";
} // namespace

TEST(TrainModeGrad, ReparameterizeTrainStep) {
  gradCheckTrain(R"(func.func @model() {
  %mu = mtl.param "mu" : tensor<5x4xf32>
  %lv = mtl.param "lv" : tensor<5x4xf32>
  %s = mtl.seed : tensor<i32>
  %z = mtl.reparameterize %mu, %lv, %s {stream = 4} : (tensor<5x4xf32>, tensor<5x4xf32>, tensor<i32>) -> tensor<*xf32>
  %y = mtl.tanh %z : (tensor<*xf32>) -> tensor<*xf32>
)" + mseTail("%y", "5x4", 5),
                 2024, 20);
}

TEST(TrainModeGrad, ReparameterizeNoise) {
  Steps steps = compile(std::string(kReparam) + mseTail("%y", "64x128", 64));
  std::mt19937 rng(11);
  Args args = trainArgs(steps, 99, rng);
  std::vector<float> &mu = args.at({kg::ArgKind::Param, "mu"}).f32;
  std::vector<float> &lv = args.at({kg::ArgKind::Param, "lv"}).f32;
  int p = outputIndex(steps.train, kg::ArgKind::Prediction, "t");
  // eps = (z - mu) / exp(lv / 2) is standard normal.
  std::vector<float> z = run(steps.train, args)[p].f32;
  double s1 = 0, s2 = 0, s4 = 0;
  const double n = double(z.size());
  for (size_t i = 0; i < z.size(); ++i) {
    double e = (z[i] - mu[i]) / std::exp(0.5 * lv[i]);
    ASSERT_TRUE(std::isfinite(e)) << i;
    s1 += e;
    s2 += e * e;
    s4 += e * e * e * e;
  }
  EXPECT_NEAR(s1 / n, 0.0, 0.04);
  EXPECT_NEAR(s2 / n, 1.0, 0.05);
  EXPECT_NEAR(s4 / n, 3.0, 0.35); // normal, not uniform (1.8)
  // Evaluation returns the mean.
  std::vector<HostTensor> ev = run(steps.eval, args);
  EXPECT_EQ(ev[outputIndex(steps.eval, kg::ArgKind::Prediction, "t")].f32, mu);
}

TEST(TrainModeGrad, CudaSchedulesCompile) {
  // The GPU schedules of every op here (forward, expansion, gradients)
  // compile to a CUDA object; running them needs a GPU (test/e2e).
  Steps steps = compile(std::string(R"(func.func @model() {
  %x = mtl.param "x" : tensor<4x3x3x8xf32>
  %g = mtl.param "bn.gamma" : tensor<8xf32>
  %b = mtl.param "bn.beta" : tensor<8xf32>
  %rm = mtl.state "bn.running_mean" : tensor<8xf32>
  %rv = mtl.state "bn.running_var" {init = "ones"} : tensor<8xf32>
  %n = mtl.batch_norm %x, %g, %b, %rm, %rv : (tensor<4x3x3x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<*xf32>
  %s = mtl.seed : tensor<i32>
  %d = mtl.dropout %n, %s {rate = 0.5 : f64, stream = 1} : (tensor<*xf32>, tensor<i32>) -> tensor<*xf32>
  %f = mtl.flatten %d : (tensor<*xf32>) -> tensor<4x72xf32>
  %lv = mtl.param "lv" : tensor<4x72xf32>
  %y = mtl.reparameterize %f, %lv, %s {stream = 2} : (tensor<4x72xf32>, tensor<4x72xf32>, tensor<i32>) -> tensor<*xf32>
)") + mseTail("%y", "4x72", 4));
  codegen::CodegenOptions opts;
  opts.target = "cuda";
  opts.outDir = ::testing::TempDir() + "/train_mode_cuda";
  std::string mk = "mkdir -p " + opts.outDir;
  ASSERT_EQ(std::system(mk.c_str()), 0);
  std::vector<std::string> files;
  EXPECT_EQ(codegen::compileFunctions({steps.train, steps.eval}, opts, files),
            "");
  EXPECT_FALSE(files.empty());
}
