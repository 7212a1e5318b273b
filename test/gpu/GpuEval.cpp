//===- GpuEval.cpp - JIT-run a step function on the GPU (test helper) -----===//
#include "test/gpu/GpuEval.h"
#include "codegen/Lowering.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

using namespace Halide;
using namespace mtl::codegen;

namespace mtl::gputest {

bool dryRun() {
  const char *env = std::getenv("MTL_GPU_TEST_DRY_RUN");
  return env && std::string(env) == "1";
}

std::string sourceDir() {
  const char *env = std::getenv("MTL_SOURCE_DIR");
  return env && *env ? std::string(env) : std::string(MTLC_TEST_SOURCE_DIR);
}

bool cudaAvailable(std::string &why) {
  if (dryRun()) {
    why = "dry run: MTL_GPU_TEST_DRY_RUN=1, the \"GPU\" is the CPU target";
    return true;
  }
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    why = "no CUDA driver (libcuda.so.1 does not load: no GPU here)";
    return false;
  }
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  using GetFn = int (*)(int *, int);
  using NameFn = int (*)(char *, int, int);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<GetFn>(dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(dlsym(lib, "cuDeviceGetName"));
  if (!init || !count) {
    why = "libcuda.so lacks cuInit/cuDeviceGetCount";
    return false;
  }
  int rc = init(0);
  if (rc != 0) {
    why = "cuInit failed with CUDA error " + std::to_string(rc) +
          " (no usable GPU)";
    return false;
  }
  int n = 0;
  if (count(&n) != 0 || n < 1) {
    why = "no CUDA device";
    return false;
  }
  why = std::to_string(n) + " CUDA device(s)";
  int dev = 0;
  char buf[256] = {0};
  if (get && name && get(&dev, 0) == 0 && name(buf, sizeof buf - 1, dev) == 0)
    why += ", device 0: " + std::string(buf);
  return true; // the library stays loaded (Halide's runtime loads it too)
}

std::string evaluateCuda(const kg::Function &fn,
                         const std::vector<codegen::HostTensor> &args,
                         std::vector<codegen::HostTensor> &outputs) {
  return guardedCall([&] {
    if (args.size() != fn.args.size())
      throw LoweringError{"evaluateCuda: wrong number of arguments"};
    JitPipeline &c = *jitCompiled(fn, dryRun() ? "cpu" : "cuda");
    ParamMap params;
    std::vector<Buffer<>> inputs;
    for (size_t k = 0; k < args.size(); ++k) {
      Buffer<> buf = hostBuffer(fn.values[fn.args[k].value], args[k]);
      // Written on the host: the pipeline must upload it.
      buf.raw_buffer()->set_host_dirty(true);
      params.set(c.lf.params[k], buf);
      inputs.push_back(buf);
    }
    std::vector<Buffer<>> bufs;
    for (const kg::Arg &o : fn.outputs)
      bufs.push_back(outputBuffer(fn.values[o.value]));
    Realization r(bufs);
    c.lf.pipeline.realize(r, c.target, params);
    outputs.clear();
    for (size_t k = 0; k < fn.outputs.size(); ++k) {
      Buffer<> &b = bufs[k];
      b.copy_to_host();
      outputs.push_back(hostTensor(fn.values[fn.outputs[k].value], b));
      b.device_free();
    }
    for (Buffer<> &b : inputs)
      b.device_free();
  });
}

std::string benchmarkCuda(const kg::Function &fn,
                          const std::vector<codegen::HostTensor> &args,
                          int calls, std::vector<double> &msPerCall) {
  return guardedCall([&] {
    if (args.size() != fn.args.size())
      throw LoweringError{"benchmarkCuda: wrong number of arguments"};
    JitPipeline &c = *jitCompiled(fn, dryRun() ? "cpu" : "cuda");
    ParamMap params;
    std::vector<Buffer<>> inputs, bufs;
    for (size_t k = 0; k < args.size(); ++k) {
      Buffer<> buf = hostBuffer(fn.values[fn.args[k].value], args[k]);
      buf.raw_buffer()->set_host_dirty(true); // uploaded by the first call
      params.set(c.lf.params[k], buf);
      inputs.push_back(buf);
    }
    for (const kg::Arg &o : fn.outputs)
      bufs.push_back(outputBuffer(fn.values[o.value]));
    Realization r(bufs);
    auto runOnce = [&] {
      c.lf.pipeline.realize(r, c.target, params);
      for (Buffer<> &b : bufs)
        b.device_sync();
    };
    runOnce(); // uploads, warms up
    msPerCall.clear();
    for (int i = 0; i < std::max(calls, 1); ++i) {
      auto start = std::chrono::steady_clock::now();
      runOnce();
      msPerCall.push_back(std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count());
    }
    for (Buffer<> &b : bufs)
      b.device_free();
    for (Buffer<> &b : inputs)
      b.device_free();
  });
}

double cudaPeakGflops(std::string &description) {
  if (dryRun()) {
    description = "dry run (no GPU)";
    return 0;
  }
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    description = "no CUDA driver";
    return 0;
  }
  using InitFn = int (*)(unsigned);
  using GetFn = int (*)(int *, int);
  using AttrFn = int (*)(int *, int, int);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<GetFn>(dlsym(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<AttrFn>(dlsym(lib, "cuDeviceGetAttribute"));
  int dev = 0;
  if (!init || !get || !attr || init(0) != 0 || get(&dev, 0) != 0) {
    description = "no CUDA device";
    return 0;
  }
  // CUdevice_attribute values (cuda.h): clock rate (kHz) 13, SM count 16,
  // compute capability 75 / 76.
  int clockKHz = 0, sms = 0, major = 0, minor = 0;
  attr(&clockKHz, 13, dev);
  attr(&sms, 16, dev);
  attr(&major, 75, dev);
  attr(&minor, 76, dev);
  // FP32 lanes per SM: 64 on sm_60/70/75/80, 128 on sm_61, 86, 89, 90.
  int lanes =
      (major == 8 && minor == 0) || major == 7 || (major == 6 && minor == 0)
          ? 64
          : 128;
  double peak = 2.0 * lanes * sms * clockKHz * 1e3 / 1e9;
  description = std::to_string(sms) + " SMs x " + std::to_string(lanes) +
                " FP32 lanes x 2 x " + std::to_string(clockKHz / 1000) +
                " MHz (sm_" + std::to_string(major) + std::to_string(minor) +
                ")";
  return peak;
}

std::string compileCuda(const kg::Function &fn, const std::string &dir,
                        std::string &stmt, std::string &object) {
  return guardedCall([&] {
    Target target = chooseTarget("cuda", "");
    LoweredFunction lf = lowerFunction(fn, target);
    std::string prefix = dir + "/mtl_" + sanitize(fn.name);
    lf.pipeline.compile_to({{OutputFileType::object, prefix + ".o"},
                            {OutputFileType::stmt, prefix + ".stmt"}},
                           lf.arguments(), "mtl_" + sanitize(fn.name),
                           target.with_feature(Target::NoRuntime));
    auto slurp = [](const std::string &path) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream os;
      os << in.rdbuf();
      return os.str();
    };
    stmt = slurp(prefix + ".stmt");
    object = slurp(prefix + ".o");
  });
}

} // namespace mtl::gputest
