//===- TestUtil.h - Building kg::Functions by hand in codegen tests ------===//
#ifndef MTL_TEST_CODEGEN_TESTUTIL_H
#define MTL_TEST_CODEGEN_TESTUTIL_H

#include "codegen/Evaluate.h"
#include "codegen/KernelGraph.h"

#include <Halide.h>

#include <random>

namespace mtl::codegen::test {

using kg::ArgKind;
using kg::DType;
using Shape = std::vector<int64_t>;

struct Builder {
  kg::Function fn;
  explicit Builder(std::string name = "f") { fn.name = std::move(name); }
  int value(Shape s, DType t = DType::F32) {
    fn.values.push_back({t, std::move(s)});
    return static_cast<int>(fn.values.size()) - 1;
  }
  int arg(ArgKind k, std::string name, Shape s, DType t = DType::F32) {
    int v = value(std::move(s), t);
    fn.args.push_back({k, std::move(name), v});
    return v;
  }
  int op(std::string op, std::vector<int> in, Shape s,
         std::map<std::string, std::vector<int64_t>> ints = {},
         std::map<std::string, double> floats = {}) {
    int v = value(std::move(s));
    kg::Node n;
    n.op = std::move(op);
    n.inputs = std::move(in);
    n.result = v;
    n.ints = std::move(ints);
    n.floats = std::move(floats);
    fn.nodes.push_back(std::move(n));
    return v;
  }
  void out(ArgKind k, std::string name, int v) {
    fn.outputs.push_back({k, std::move(name), v});
  }
};

inline size_t numel(const Shape &s) {
  size_t n = 1;
  for (auto e : s)
    n *= e;
  return n;
}

inline HostTensor randomTensor(Shape s, unsigned seed, float lo = -1,
                               float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  HostTensor t;
  t.shape = s;
  t.f32.resize(numel(s));
  for (float &x : t.f32)
    x = d(rng);
  return t;
}

/// The instruction sets whose register tiles the conv and GEMM tests check:
/// the host's, and those of `mtlc build --isa` this CPU can run.
inline std::vector<std::string> testIsas() {
  std::vector<std::string> isas = {""};
  Halide::Target host = Halide::get_host_target();
  if (host.has_feature(Halide::Target::AVX2) &&
      host.has_feature(Halide::Target::FMA))
    isas.push_back("avx2");
  if (host.has_feature(Halide::Target::SSE41))
    isas.push_back("sse41");
  return isas;
}

inline HostTensor intTensor(Shape s, std::vector<int32_t> v) {
  HostTensor t;
  t.shape = std::move(s);
  t.i32 = std::move(v);
  return t;
}

} // namespace mtl::codegen::test

#endif
