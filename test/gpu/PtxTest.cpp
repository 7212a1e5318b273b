//===- PtxTest.cpp - The CUDA build without a GPU: PTX for every kernel ---===//
//
// Runs everywhere (no GPU needed). Each example's train step, lowered for
// the CUDA target as `mtlc build --target=cuda` lowers it, is compiled to an
// object and its lowered statement; then:
//
// * every stage runs on the device: the host code has no loops over data
//   and never copies a buffer back to the host, and every `produce` block
//   launches a CUDA kernel (a stage without a GPU schedule would be a host
//   loop between device copies);
// * every kernel the host launches is a PTX entry, and there is one entry
//   per launch site;
// * where the CUDA toolkit's ptxas is installed, the embedded PTX (for
//   sm_86, the newest Halide 14 knows) assembles for sm_90 (an H100).
//
//===----------------------------------------------------------------------===//
#include "test/gpu/GpuEval.h"

#include "frontend/MLIRGen.h"
#include "frontend/SpecParser.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace mtl;
namespace fs = std::filesystem;

namespace {

kg::Function trainStep(const std::string &name, int64_t batch) {
  DiagnosticEngine diags;
  std::optional<spec::Spec> spec = parseSpecFile(
      gputest::sourceDir() + "/examples/" + name + ".toml", diags);
  EXPECT_TRUE(spec);
  if (!spec)
    return {};
  spec->train.batch = batch;
  mlir::MLIRContext ctx;
  auto module = mlirGen(ctx, *spec);
  EXPECT_TRUE(module);
  if (!module)
    return {};
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  auto fn =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("train_step"),
                         StepKind::Train, "train_step");
  EXPECT_TRUE(mlir::succeeded(fn));
  return mlir::succeeded(fn) ? *fn : kg::Function();
}

std::string ptxas() {
  const char *env = std::getenv("MTL_PTXAS");
  if (env && *env)
    return env;
  for (const char *p : {"/usr/local/cuda/bin/ptxas", "/usr/bin/ptxas"})
    if (fs::exists(p))
      return p;
  return "";
}

class CudaBuild : public ::testing::TestWithParam<const char *> {};

TEST_P(CudaBuild, PtxForEveryKernel) {
  kg::Function fn = trainStep(GetParam(), 8);
  ASSERT_FALSE(fn.name.empty());
  fs::path dir =
      fs::path(::testing::TempDir()) / (std::string("mtl_ptx_") + GetParam());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string stmt, object;
  auto start = std::chrono::steady_clock::now();
  auto seconds = [&start] {
    auto now = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(now - start).count();
    start = now;
    return s;
  };
  ASSERT_EQ(gputest::compileCuda(fn, dir.string(), stmt, object), "");
  double compileS = seconds();
  ASSERT_FALSE(object.empty());

  // The embedded PTX module, then the host function.
  const std::string ptxHead = "buffer cuda_gpu_source_kernels = {\n";
  size_t ptxAt = stmt.find(ptxHead);
  size_t hostAt = stmt.find("func mtl_train_step (");
  ASSERT_NE(ptxAt, std::string::npos) << "no PTX in the CUDA build";
  ASSERT_NE(hostAt, std::string::npos);
  ASSERT_LT(ptxAt, hostAt);
  std::string ptx =
      stmt.substr(ptxAt + ptxHead.size(), hostAt - ptxAt - ptxHead.size());
  ptx = ptx.substr(0, ptx.find_last_of('}')); // the buffer's closing brace
  // The buffer holds the PTX as a C string: its terminating NUL is printed.
  ptx.erase(std::remove(ptx.begin(), ptx.end(), '\0'), ptx.end());
  std::string host = stmt.substr(hostAt);

  std::set<std::string> entries;
  std::regex entryRe(R"(\.entry\s+([A-Za-z0-9_$]+))");
  for (std::sregex_iterator it(ptx.begin(), ptx.end(), entryRe), end; it != end;
       ++it)
    entries.insert((*it)[1]);
  std::multiset<std::string> launches;
  std::regex launchRe(R"re(halide_cuda_run\(cuda\[0\], "([A-Za-z0-9_$]+)")re");
  for (std::sregex_iterator it(host.begin(), host.end(), launchRe), end;
       it != end; ++it)
    launches.insert((*it)[1]);
  EXPECT_FALSE(entries.empty());
  EXPECT_EQ(entries.size(), launches.size())
      << "PTX entries and kernel launches differ";
  for (const std::string &l : launches)
    EXPECT_TRUE(entries.count(l))
        << "launched kernel " << l << " has no PTX entry";

  // No stage left on the host.
  std::regex hostLoop(
      R"re((^|\n) *(for|parallel|vectorized|unrolled)(<[A-Za-z_]+>)? \()re");
  std::smatch m;
  EXPECT_FALSE(std::regex_search(host, m, hostLoop))
      << "a host loop in the CUDA build: " << m.str();
  EXPECT_EQ(host.find("halide_copy_to_host"), std::string::npos)
      << "a stage reads a device buffer on the host";
  // Every produce block launches a kernel (before its matching brace).
  std::istringstream lines(host);
  std::vector<std::pair<size_t, std::string>> open; // indent, name
  std::vector<bool> launched;
  size_t produces = 0;
  for (std::string line; std::getline(lines, line);) {
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos)
      continue;
    std::string body = line.substr(indent);
    if (body.rfind("produce ", 0) == 0) {
      open.push_back({indent, body.substr(8, body.find(' ', 8) - 8)});
      launched.push_back(false);
      ++produces;
    } else if (body.find("halide_cuda_run(") != std::string::npos) {
      for (size_t k = 0; k < launched.size(); ++k)
        launched[k] = true;
    } else if (body == "}" && !open.empty() && open.back().first == indent) {
      EXPECT_TRUE(launched.back())
          << "stage " << open.back().second << " launches no CUDA kernel";
      open.pop_back();
      launched.pop_back();
    }
  }
  EXPECT_GT(produces, 0u);

  std::string as = ptxas();
  if (as.empty()) {
    std::printf("%s: %zu kernels; ptxas not found, PTX not assembled (CUDA "
                "build %.1f s)\n",
                GetParam(), entries.size(), compileS);
    return;
  }
  fs::path ptxFile = dir / "kernels.ptx";
  std::ofstream(ptxFile) << ptx;
  for (const char *arch : {"sm_90"}) {
    std::string cmd = as + " -arch=" + arch + " " + ptxFile.string() + " -o " +
                      (dir / "kernels.cubin").string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << "ptxas -arch=" << arch << " rejects the PTX of "
                     << GetParam() << " (" << cmd << ")";
  }
  std::printf("%s: %zu kernels, %zu stages, PTX assembles for sm_90 "
              "(CUDA build %.1f s, ptxas %.1f s)\n",
              GetParam(), entries.size(), produces, compileS, seconds());
  if (!HasFailure())
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaBuild,
                         // The reference network (most op classes) and the
                         // recurrent one; ~20-55 s each on a loaded 2-core
                         // machine, almost all Halide's CUDA compile.
                         ::testing::Values("fashion_detect", "sequential_lstm"),
                         [](const auto &info) {
                           return std::string(info.param);
                         });

} // namespace
