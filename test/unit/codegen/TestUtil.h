//===- TestUtil.h - Building kg::Functions by hand in codegen tests ------===//
#ifndef MTL_TEST_CODEGEN_TESTUTIL_H
#define MTL_TEST_CODEGEN_TESTUTIL_H

#include "codegen/Evaluate.h"
#include "codegen/Isa.h"
#include "codegen/KernelGraph.h"
#include "codegen/Lowering.h"
#include "codegen/Segments.h"

#include <Halide.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

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

/// Runs the segments in order, as the generated entry point does, and
/// returns the function's outputs.
inline std::vector<HostTensor>
runSegmented(const kg::Function &fn, const SegmentedFunction &sf,
             const std::vector<HostTensor> &args) {
  std::map<int, HostTensor> vals;
  for (size_t i = 0; i < fn.args.size(); ++i)
    vals[fn.args[i].value] = args[i];
  for (const Segment &s : sf.segments) {
    std::vector<HostTensor> in, out;
    for (int v : s.args) {
      auto view = sf.views.find(v); // the base's data under the view's shape
      in.push_back(vals.at(view == sf.views.end() ? v : view->second));
      if (view != sf.views.end())
        in.back().shape = fn.values[v].shape;
    }
    std::string err = evaluate(s.fn, in, out);
    EXPECT_EQ(err, "") << s.label;
    for (size_t i = 0; i < s.outs.size() && i < out.size(); ++i)
      vals[s.outs[i]] = out[i];
  }
  std::vector<HostTensor> outs;
  for (const kg::Arg &o : fn.outputs)
    outs.push_back(vals.at(o.value));
  return outs;
}

/// Every output of `got` within `rel` times the largest magnitude of all
/// of `want`'s: one scale for all outputs, since a bias gradient that is 0
/// in exact arithmetic is rounding noise on either side.
inline void expectOutputsNear(const kg::Function &fn,
                              const std::vector<HostTensor> &got,
                              const std::vector<HostTensor> &want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 1e-6;
  for (const HostTensor &t : want)
    for (float v : t.f32)
      scale = std::max(scale, double(std::fabs(v)));
  for (size_t o = 0; o < want.size(); ++o) {
    ASSERT_EQ(got[o].f32.size(), want[o].f32.size());
    for (size_t i = 0; i < want[o].f32.size(); ++i)
      ASSERT_NEAR(got[o].f32[i], want[o].f32[i], rel * scale)
          << fn.outputs[o].name << "[" << i << "]";
  }
}

inline void expectSegmentedMatchesWhole(const kg::Function &fn,
                                        bool mergeSmall = false) {
  std::vector<HostTensor> args = randomArgs(fn, 3), whole;
  ASSERT_EQ(evaluate(fn, args, whole), "");
  std::vector<HostTensor> split =
      runSegmented(fn, segmentFunction(fn, true, mergeSmall), args);
  expectOutputsNear(fn, split, whole, 1e-5);
}

/// Whether some segment of `fn` holds both an `a` node and a `b` node.
inline bool inOneSegment(const kg::Function &fn, const std::string &a,
                         const std::string &b) {
  for (const Segment &s : segmentFunction(fn).segments) {
    bool hasA = false, hasB = false;
    for (const kg::Node &n : s.fn.nodes) {
      hasA |= n.op == a;
      hasB |= n.op == b;
    }
    if (hasA && hasB)
      return true;
  }
  return false;
}

/// The Funcs that `fn`'s outputs reach when lowered for AVX2.
inline std::set<std::string> reachedFuncs(const kg::Function &fn) {
  LoweredFunction lf = lowerFunction(fn, isaTarget("avx2"));
  std::set<std::string> names;
  for (const Halide::Func &out : lf.outputs)
    for (const auto &[name, f] :
         Halide::Internal::find_transitive_calls(out.function()))
      names.insert(name);
  return names;
}

inline bool reachesA(const std::set<std::string> &names,
                     const std::string &part) {
  for (const std::string &n : names)
    if (n.find(part) != std::string::npos)
      return true;
  return false;
}

} // namespace mtl::codegen::test

#endif
