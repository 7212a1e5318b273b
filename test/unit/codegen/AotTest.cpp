//===- AotTest.cpp - AOT objects (cpu, cuda), driver link, train step ----===//
#include "TestUtil.h"
#include "codegen/Codegen.h"
#include "codegen/Driver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <dlfcn.h>

using namespace mtl::codegen;
using namespace mtl::codegen::test;
namespace fs = std::filesystem;

namespace {

/// A 2-conv backbone + 2 classification heads, forward + reverse mode, as
/// the passes would lower a train_step.
mtl::kg::Function trainStep(int N, int H, int C1, int C2, int U1, int U2) {
  Builder b("train_step");
  std::map<std::string, std::vector<int64_t>> conv = {{"stride", {1, 1}},
                                                      {"padding", {1, 1}}};
  std::map<std::string, std::vector<int64_t>> pool = {{"kernel", {2, 2}},
                                                      {"stride", {2, 2}}};
  int img = b.arg(ArgKind::Input, "image", {N, H, H, 1});
  int tA = b.arg(ArgKind::Target, "label", {N}, DType::I32);
  int mA = b.arg(ArgKind::Mask, "label", {N});
  int tB = b.arg(ArgKind::Target, "group", {N}, DType::I32);
  int mB = b.arg(ArgKind::Mask, "group", {N});
  int w1 = b.arg(ArgKind::Param, "conv1.weight", {3, 3, 1, C1});
  int b1 = b.arg(ArgKind::Param, "conv1.bias", {C1});
  int w2 = b.arg(ArgKind::Param, "conv2.weight", {3, 3, C1, C2});
  int b2 = b.arg(ArgKind::Param, "conv2.bias", {C2});
  const int H2 = H / 2, H4 = H / 4, F = H4 * H4 * C2;
  int wa = b.arg(ArgKind::Param, "label_fc.weight", {F, U1});
  int ba = b.arg(ArgKind::Param, "label_fc.bias", {U1});
  int wa2 = b.arg(ArgKind::Param, "label_out.weight", {U1, 10});
  int wb = b.arg(ArgKind::Param, "group_fc.weight", {F, U2});
  int wb2 = b.arg(ArgKind::Param, "group_out.weight", {U2, 4});
  // Forward.
  int c1 = b.op("conv2d", {img, w1, b1}, {N, H, H, C1}, conv);
  int r1 = b.op("relu", {c1}, {N, H, H, C1});
  int p1 = b.op("max_pool", {r1}, {N, H2, H2, C1}, pool);
  int c2 = b.op("conv2d", {p1, w2, b2}, {N, H2, H2, C2}, conv);
  int r2 = b.op("relu", {c2}, {N, H2, H2, C2});
  int p2 = b.op("max_pool", {r2}, {N, H4, H4, C2}, pool);
  int fl = b.op("reshape", {p2}, {N, F});
  int ha = b.op("dense", {fl, wa, ba}, {N, U1});
  int hra = b.op("relu", {ha}, {N, U1});
  int la = b.op("dense", {hra, wa2}, {N, 10});
  int hb = b.op("dense", {fl, wb}, {N, U2});
  int hrb = b.op("relu", {hb}, {N, U2});
  int lb = b.op("dense", {hrb, wb2}, {N, 4});
  int lossA = b.op("softmax_cross_entropy", {la, tA, mA}, {});
  int lossB = b.op("softmax_cross_entropy", {lb, tB, mB}, {});
  // Backward.
  int dla = b.op("softmax_cross_entropy_grad", {la, tA, mA}, {N, 10}, {},
                 {{"scale", 1.0}});
  int dlb = b.op("softmax_cross_entropy_grad", {lb, tB, mB}, {N, 4}, {},
                 {{"scale", 0.5}});
  int dwa2 = b.op("dense_backward_weight", {hra, dla}, {U1, 10});
  int dhra = b.op("dense_backward_input", {dla, wa2}, {N, U1});
  int dha = b.op("relu_grad", {dhra, hra}, {N, U1});
  int dwa = b.op("dense_backward_weight", {fl, dha}, {F, U1});
  int dba = b.op("bias_grad", {dha}, {U1});
  int dflA = b.op("dense_backward_input", {dha, wa}, {N, F});
  int dwb2 = b.op("dense_backward_weight", {hrb, dlb}, {U2, 4});
  int dhrb = b.op("dense_backward_input", {dlb, wb2}, {N, U2});
  int dhb = b.op("relu_grad", {dhrb, hrb}, {N, U2});
  int dwb = b.op("dense_backward_weight", {fl, dhb}, {F, U2});
  int dflB = b.op("dense_backward_input", {dhb, wb}, {N, F});
  int dfl = b.op("join", {dflA, dflB}, {N, F});
  int dp2 = b.op("reshape", {dfl}, {N, H4, H4, C2});
  int dr2 = b.op("max_pool_grad", {dp2, r2}, {N, H2, H2, C2}, pool);
  int dc2 = b.op("relu_grad", {dr2, r2}, {N, H2, H2, C2});
  int dw2 = b.op("conv2d_backward_filter", {p1, dc2}, {3, 3, C1, C2}, conv);
  int db2 = b.op("bias_grad", {dc2}, {C2});
  int dp1 = b.op("conv2d_backward_input", {dc2, w2}, {N, H2, H2, C1}, conv);
  int dr1 = b.op("max_pool_grad", {dp1, r1}, {N, H, H, C1}, pool);
  int dc1 = b.op("relu_grad", {dr1, r1}, {N, H, H, C1});
  int dw1 = b.op("conv2d_backward_filter", {img, dc1}, {3, 3, 1, C1}, conv);
  int db1 = b.op("bias_grad", {dc1}, {C1});
  b.out(ArgKind::Loss, "label", lossA);
  b.out(ArgKind::Loss, "group", lossB);
  b.out(ArgKind::Prediction, "label", la);
  b.out(ArgKind::Prediction, "group", lb);
  std::vector<std::pair<const char *, int>> grads = {
      {"conv1.weight", dw1},      {"conv1.bias", db1},
      {"conv2.weight", dw2},      {"conv2.bias", db2},
      {"label_fc.weight", dwa},   {"label_fc.bias", dba},
      {"label_out.weight", dwa2}, {"group_fc.weight", dwb},
      {"group_out.weight", dwb2}};
  for (auto &[name, v] : grads)
    b.out(ArgKind::Grad, name, v);
  return b.fn;
}

std::vector<HostTensor> trainArgs(const mtl::kg::Function &fn) {
  std::vector<HostTensor> a;
  unsigned seed = 10;
  for (const auto &arg : fn.args) {
    const auto &v = fn.values[arg.value];
    if (v.dtype == DType::I32) {
      std::vector<int32_t> t;
      for (size_t i = 0; i < numel(v.shape); ++i)
        t.push_back(int32_t((i * 7) % 4));
      a.push_back(intTensor(v.shape, t));
    } else if (arg.kind == ArgKind::Mask) {
      HostTensor m = randomTensor(v.shape, 0);
      for (size_t i = 0; i < m.f32.size(); ++i)
        m.f32[i] = i % 3 ? 1.0f : 0.0f;
      a.push_back(m);
    } else {
      a.push_back(randomTensor(v.shape, seed++, -0.5f, 0.5f));
    }
  }
  return a;
}

/// Gradients of the train step against central finite differences of the
/// weighted loss (label + 0.5 * group), in double-checked float.
TEST(TrainStep, GradientsMatchFiniteDifferences) {
  mtl::kg::Function fn = trainStep(3, 8, 4, 8, 6, 5);
  std::vector<HostTensor> args = trainArgs(fn);
  std::vector<HostTensor> out;
  ASSERT_EQ(evaluate(fn, args, out), "");
  auto loss = [&](std::vector<HostTensor> &a) {
    std::vector<HostTensor> o;
    EXPECT_EQ(evaluate(fn, a, o), "");
    return double(o[0].f32[0]) + 0.5 * double(o[1].f32[0]);
  };
  int checked = 0;
  for (size_t k = 0; k < fn.args.size(); ++k) {
    if (fn.args[k].kind != ArgKind::Param)
      continue;
    size_t gi = 0;
    while (fn.outputs[gi].kind != ArgKind::Grad ||
           fn.outputs[gi].name != fn.args[k].name)
      ++gi;
    size_t n = args[k].f32.size();
    for (size_t i : {size_t(0), n / 2, n - 1}) {
      const float h = 4e-4f, orig = args[k].f32[i];
      args[k].f32[i] = orig + h;
      double up = loss(args);
      args[k].f32[i] = orig - h;
      double down = loss(args);
      args[k].f32[i] = orig;
      double fd = (up - down) / (2 * h);
      EXPECT_NEAR(out[gi].f32[i], fd, 2e-3 + 2e-2 * std::fabs(fd))
          << fn.args[k].name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 27);
}

/// `--schedule=auto` and friends: Halide's autoschedulers replace the
/// hand-written schedules (AutoSchedule.h). The same train step must give
/// the same losses and gradients, whatever schedules it runs.
TEST(AutoSchedule, MatchesTheHandSchedules) {
  mtl::kg::Function fn = trainStep(4, 16, 8, 16, 12, 6);
  std::vector<HostTensor> args = trainArgs(fn), ref;
  std::vector<double> ms;
  ASSERT_EQ(benchmark(fn, args, 1, ref, ms, "heuristic"), "");
  for (const char *schedule : {"auto"}) {
    std::vector<HostTensor> out;
    ASSERT_EQ(benchmark(fn, args, 1, out, ms, schedule), "") << schedule;
    ASSERT_EQ(out.size(), ref.size());
    for (size_t k = 0; k < out.size(); ++k) {
      double scale = 1e-6;
      for (float v : ref[k].f32)
        scale = std::max(scale, double(std::fabs(v)));
      ASSERT_EQ(out[k].f32.size(), ref[k].f32.size());
      for (size_t i = 0; i < out[k].f32.size(); ++i)
        ASSERT_NEAR(out[k].f32[i], ref[k].f32[i], 1e-4 * scale)
            << schedule << " " << fn.outputs[k].name << "[" << i << "]";
    }
  }
}

TEST(AutoSchedule, UnknownScheduleIsAnError) {
  mtl::kg::Function fn = trainStep(2, 8, 4, 8, 6, 5);
  std::vector<HostTensor> args = trainArgs(fn), out;
  std::vector<double> ms;
  std::string err = benchmark(fn, args, 1, out, ms, "fastest");
  EXPECT_NE(err.find("unknown schedule 'fastest'"), std::string::npos) << err;
  err = benchmark(fn, args, 1, out, ms, "li2018");
  EXPECT_NE(err.find("'li2018' is for GPU targets"), std::string::npos) << err;
}

bool fileContains(const std::string &path, const std::string &needle) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().find(needle) != std::string::npos;
}

fs::path freshDir(const std::string &name) {
  fs::path d = fs::temp_directory_path() /
               ("mtlc_codegen_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(Aot, CpuObjectsAndLinkedBinary) {
  fs::path dir = freshDir("cpu");
  mtl::kg::Function train = trainStep(128, 28, 32, 64, 128, 64);
  mtl::kg::Function predict = train;
  predict.name = "predict";
  CodegenOptions opts;
  opts.outDir = dir.string();
  std::vector<std::string> files;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(compileFunctions({train}, opts, files), "");
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("[timing] AOT compile of 2-conv + 2-head train_step (batch 128, "
              "%zu ops, target %s): %.2f s\n",
              train.nodes.size(), resolveTarget(opts).c_str(), secs);
  // One object per segment (a node and its fused epilogues), the generated
  // entry point, the Halide runtime last.
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(fs::path(files[0]).filename(), "mtl_train_step_s0.o");
  fs::path entry = dir / "mtl_train_step.o";
  ASSERT_EQ(files[files.size() - 2], entry.string());
  EXPECT_TRUE(fileContains(entry.string(), "mtl_train_step_argv"));
  EXPECT_TRUE(fileContains(entry.string(), "mtl_train_step_metadata"));
  EXPECT_TRUE(fileContains(entry.string(), "mtl_train_step_s1_argv"));
  EXPECT_TRUE(fileContains(files.back(), "halide_malloc"));

  // Link against a stub runtime that checks the pipeline table and runs
  // nothing: the real runtime (runtime/) is tested on its own.
  fs::path stub = dir / "stub_rt.cpp";
  std::ofstream(stub) << R"(
#include "runtime/CompiledModel.h"
#include <HalideRuntime.h>
#include <cstdio>
#include <cstring>
int mtl::rt::main(const CompiledModel &m, int, char **) {
  const halide_filter_metadata_t *md = m.pipelines[0].metadata();
  std::printf("%s %d %d %d\n", m.pipelines[0].name, m.numPipelines,
              md->num_arguments, std::strstr(m.descriptorJson,
              "\"he_normal\"") != nullptr);
  return 0;
}
)";
  std::string cxx = std::getenv("CXX") ? std::getenv("CXX") : "c++";
  std::string stubObj = (dir / "stub_rt.o").string();
  ASSERT_EQ(std::system((cxx +
                         " -std=c++17 -c -I" MTLC_TEST_SOURCE_DIR
                         " -I/usr/include/halide14 " +
                         stub.string() + " -o " + stubObj)
                            .c_str()),
            0);
  mtl::spec::Spec spec;
  spec.name = "two_heads";
  spec.file = "two_heads.toml";
  spec.input.shape = {28, 28, 1};
  spec.tasks.resize(2);
  spec.tasks[0].name = "label";
  spec.tasks[1].name = "group";
  LinkOptions link;
  link.runtimeLib = stubObj;
  link.includeDir = MTLC_TEST_SOURCE_DIR;
  fs::path exe = dir / "model";
  ASSERT_EQ(emitAndLinkBinary(spec, {train}, files, exe.string(), link), "");
  std::string run = exe.string() + " > " + (dir / "out.txt").string();
  ASSERT_EQ(std::system(run.c_str()), 0);
  std::ifstream in(dir / "out.txt");
  std::string line;
  std::getline(in, line);
  // 14 args + 13 outputs.
  EXPECT_EQ(line, "train_step 1 27 1");

  std::string desc = modelDescriptor(spec, {train});
  EXPECT_NE(desc.find("\"prediction_shape\": [\n        10"), std::string::npos)
      << desc.substr(0, 800);
  EXPECT_NE(desc.find("\"fan_in\": 288"), std::string::npos);
  fs::remove_all(dir);
}

/// The compiled entry point (its segments, the arena's slots and views, the
/// outputs written in place) computes what the whole function computes:
/// the step's objects linked into a shared library, its `_argv` called with
/// Halide buffers, against `evaluate` (one JIT pipeline).
TEST(Aot, SegmentedEntryPointMatchesTheWholeFunction) {
  fs::path dir = freshDir("entry");
  mtl::kg::Function fn = trainStep(4, 8, 8, 16, 16, 8);
  CodegenOptions opts;
  opts.outDir = dir.string();
  std::vector<std::string> files;
  ASSERT_EQ(compileFunctions({fn}, opts, files), "");
  std::string cxx = std::getenv("CXX") ? std::getenv("CXX") : "c++";
  fs::path lib = dir / "libstep.so";
  std::string link = cxx + " -shared -o " + lib.string();
  for (const std::string &f : files)
    link += " " + f;
  ASSERT_EQ(std::system(link.c_str()), 0) << link;
  void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Argv = int (*)(void **);
  auto argv = reinterpret_cast<Argv>(dlsym(handle, "mtl_train_step_argv"));
  ASSERT_NE(argv, nullptr);

  std::vector<HostTensor> args = trainArgs(fn), whole;
  ASSERT_EQ(evaluate(fn, args, whole), "");
  // One dense 128-byte aligned buffer per argument and output, dims
  // innermost first.
  std::vector<std::vector<halide_dimension_t>> dims;
  std::vector<halide_buffer_t> bufs;
  std::vector<void *> hosts;
  auto add = [&](const mtl::kg::Value &v, const void *data) {
    const size_t n = numel(v.shape) * 4;
    void *host = std::aligned_alloc(128, (n + 127) / 128 * 128);
    if (data)
      std::memcpy(host, data, n);
    hosts.push_back(host);
    std::vector<halide_dimension_t> d;
    int32_t stride = 1;
    for (size_t i = v.shape.size(); i-- > 0;) {
      d.push_back({0, int32_t(v.shape[i]), stride, 0});
      stride *= int32_t(v.shape[i]);
    }
    dims.push_back(d);
    halide_buffer_t b;
    std::memset(&b, 0, sizeof b);
    b.host = static_cast<uint8_t *>(host);
    b.type = v.dtype == DType::I32 ? halide_type_t(halide_type_int, 32, 1)
                                   : halide_type_t(halide_type_float, 32, 1);
    b.dimensions = int32_t(v.shape.size());
    bufs.push_back(b);
  };
  for (size_t i = 0; i < fn.args.size(); ++i) {
    const HostTensor &t = args[i];
    add(fn.values[fn.args[i].value],
        t.i32.empty() ? static_cast<const void *>(t.f32.data())
                      : static_cast<const void *>(t.i32.data()));
  }
  for (const mtl::kg::Arg &o : fn.outputs)
    add(fn.values[o.value], nullptr);
  std::vector<void *> ptrs;
  for (size_t i = 0; i < bufs.size(); ++i) {
    bufs[i].dim = dims[i].data();
    ptrs.push_back(&bufs[i]);
  }
  ASSERT_EQ(argv(ptrs.data()), 0);

  // Relative to each output's largest value (the summation orders differ:
  // segments and their fusions against one pipeline).
  for (size_t o = 0; o < fn.outputs.size(); ++o) {
    const float *got = static_cast<const float *>(hosts[fn.args.size() + o]);
    const std::vector<float> &want = whole[o].f32;
    double scale = 1e-6;
    for (float v : want)
      scale = std::max(scale, double(std::fabs(v)));
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-4 * scale)
          << fn.outputs[o].name << "[" << i << "]";
  }
  for (void *h : hosts)
    std::free(h);
  dlclose(handle);
  fs::remove_all(dir);
}

/// Whether any Halide statement file under `dir` mentions `what`.
bool stmtMentions(const fs::path &dir, const std::string &what) {
  for (const auto &f : fs::directory_iterator(dir))
    if (f.path().extension() == ".stmt" &&
        fileContains(f.path().string(), what))
      return true;
  return false;
}

TEST(Aot, NoWinogradKeepsTheConvsDirect) {
  // A 3 x 3 stride-1 conv and both its gradients: Winograd by default
  // (ops/Winograd.cpp), direct with CodegenOptions::winograd off (mtlc
  // build --no-winograd).
  Builder b("convs");
  std::map<std::string, std::vector<int64_t>> conv = {{"stride", {1, 1}},
                                                      {"padding", {1, 1}}};
  int x = b.arg(ArgKind::Input, "x", {2, 8, 8, 16});
  int w = b.arg(ArgKind::Param, "w", {3, 3, 16, 16});
  int dy = b.arg(ArgKind::Input, "dy", {2, 8, 8, 16});
  b.out(ArgKind::Prediction, "y", b.op("conv2d", {x, w}, {2, 8, 8, 16}, conv));
  b.out(ArgKind::Grad, "x",
        b.op("conv2d_backward_input", {dy, w}, {2, 8, 8, 16}, conv));
  b.out(ArgKind::Grad, "w",
        b.op("conv2d_backward_filter", {x, dy}, {3, 3, 16, 16}, conv));
  for (bool winograd : {true, false}) {
    SCOPED_TRACE(winograd ? "winograd" : "direct");
    fs::path dir = freshDir(winograd ? "winograd" : "direct");
    CodegenOptions opts;
    opts.outDir = dir.string();
    opts.emitStmt = true;
    opts.winograd = winograd;
    std::vector<std::string> files;
    ASSERT_EQ(compileFunctions({b.fn}, opts, files), "");
    EXPECT_EQ(stmtMentions(dir, "wino_m"), winograd);
    EXPECT_EQ(stmtMentions(dir, "wino_acc"), winograd);
    fs::remove_all(dir);
  }
}

TEST(Aot, CudaPtx) {
  fs::path dir = freshDir("cuda");
  mtl::kg::Function train = trainStep(8, 8, 16, 16, 16, 8);
  CodegenOptions opts;
  opts.target = "cuda";
  opts.outDir = dir.string();
  std::vector<std::string> files;
  ASSERT_EQ(compileFunctions({train}, opts, files), "");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(resolveTarget(opts).find("cuda"), std::string::npos);
  // The PTX is embedded as a string in the pipeline object.
  EXPECT_TRUE(fileContains(files[0], ".target sm_86"));
  EXPECT_TRUE(fileContains(files[0], ".entry"));
  EXPECT_TRUE(fileContains(files[1], "cuLaunchKernel"));
  fs::remove_all(dir);
}

TEST(Aot, BadTargetIsAnError) {
  CodegenOptions opts;
  opts.halideTarget = "x86-64-linux-nonsense";
  std::vector<std::string> files;
  std::string err =
      compileFunctions({trainStep(2, 4, 4, 4, 4, 4)}, opts, files);
  EXPECT_NE(err.find("nonsense"), std::string::npos) << err;
}

} // namespace
