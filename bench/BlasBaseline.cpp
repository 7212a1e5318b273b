//===- BlasBaseline.cpp - A kernel's GEMMs in OpenBLAS, for comparison ----===//
#include "bench/BlasBaseline.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>

#include <dlfcn.h>

namespace mtl::bench {

std::vector<Gemm> kernelGemms(const kg::Function &sub) {
  // A kernel doing other work besides its products (a group of small
  // units: losses, bias sums; codegen/SmallUnits.h) is not a GEMM kernel.
  for (const kg::Node &n : sub.nodes)
    if (n.op != "dense" && n.op != "dense_backward_input" &&
        n.op != "dense_backward_weight" && n.op != "join" &&
        !n.ints.count("mtl.fused_epilogue"))
      return {};
  // The join reading each value (a grad-input's sum with its siblings').
  std::map<int, int> joinOf;
  for (size_t q = 0; q < sub.nodes.size(); ++q)
    if (sub.nodes[q].op == "join")
      for (int in : sub.nodes[q].inputs)
        joinOf[in] = static_cast<int>(q);
  std::vector<Gemm> gemms;
  std::map<int, bool> joinStarted;
  for (const kg::Node &n : sub.nodes) {
    if (n.inputs.size() < 2)
      continue;
    auto shape = [&](int q) { return sub.values[n.inputs[q]].shape; };
    if (shape(0).size() != 2 || shape(1).size() != 2)
      continue;
    if (n.op == "dense") { // x [N, K] w [K, M] -> [N, M]
      gemms.push_back({int(shape(0)[0]), int(shape(1)[1]), int(shape(0)[1]),
                       false, false, 0.0f});
    } else if (n.op == "dense_backward_input") { // dy [N, M] w [K, M] -> [N, K]
      float beta = 0.0f;
      auto j = joinOf.find(n.result);
      if (j != joinOf.end()) {
        beta = joinStarted[j->second] ? 1.0f : 0.0f;
        joinStarted[j->second] = true;
      }
      gemms.push_back({int(shape(0)[0]), int(shape(1)[0]), int(shape(0)[1]),
                       false, true, beta});
    } else if (n.op == "dense_backward_weight") { // x [N, K] dy [N, M]
      gemms.push_back({int(shape(0)[1]), int(shape(1)[1]), int(shape(0)[0]),
                       true, false, 0.0f});
    }
  }
  return gemms;
}

bool Blas::load(std::string &why) {
  const char *env = std::getenv("MTL_BLAS_LIB");
  lib = env && *env ? env : "libopenblas.so.0";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    why = e ? e : ("cannot load " + lib);
    return false;
  }
  sgemm = reinterpret_cast<Sgemm>(dlsym(h, "cblas_sgemm"));
  setNumThreads =
      reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
  getConfig = reinterpret_cast<char *(*)()>(dlsym(h, "openblas_get_config"));
  if (!sgemm) {
    why = lib + " has no cblas_sgemm";
    return false;
  }
  return true;
}

std::string Blas::describe() const {
  std::string d = lib;
  if (getConfig && getConfig())
    d += " (" + std::string(getConfig()) + ")";
  return d;
}

void Blas::setThreads(int threads) const {
  if (setNumThreads)
    setNumThreads(threads);
}

Blas::Operands Blas::operands(const std::vector<Gemm> &gemms, unsigned seed) {
  Operands ops;
  ops.gemms = gemms;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = u(rng);
    return v;
  };
  for (const Gemm &g : gemms) {
    ops.a.push_back(random(size_t(g.m) * g.k));
    ops.b.push_back(random(size_t(g.k) * g.n));
    ops.c.push_back(std::vector<float>(size_t(g.m) * g.n, 0.0f));
  }
  return ops;
}

std::vector<double> Blas::time(Operands &ops, int calls) const {
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
  std::vector<double> ms;
  for (int call = 0; call < calls; ++call) {
    auto t0 = std::chrono::steady_clock::now();
    float *c = nullptr;
    for (size_t q = 0; q < ops.gemms.size(); ++q) {
      const Gemm &g = ops.gemms[q];
      // A join's later grad-inputs accumulate into the first one's C.
      if (g.beta == 0.0f || !c)
        c = ops.c[q].data();
      sgemm(kRowMajor, g.transA ? kTrans : kNoTrans,
            g.transB ? kTrans : kNoTrans, g.m, g.n, g.k, 1.0f, ops.a[q].data(),
            g.transA ? g.m : g.k, ops.b[q].data(), g.transB ? g.k : g.n, g.beta,
            c, g.n);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return ms;
}

} // namespace mtl::bench
