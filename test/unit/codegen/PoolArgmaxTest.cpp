//===- PoolArgmaxTest.cpp - a max pool's gradient from the saved argmax
//----===//
//
// max_pool and max_pool_argmax of one input (mtl-save-pool-argmax) share a
// segment, the argmax computed in the pool's loop over the images
// (ops/Pool.cpp); max_pool_grad reads it instead of comparing the window
// again. For windows that tile the input or overlap, with padding, with a
// relu fused after the pool, and channels in whole vectors or not, the
// pooled values and the gradient match the unsegmented step and the step
// whose gradient finds the maxima again, exactly.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace mtl::codegen;
using namespace mtl::codegen::test;

namespace {

struct Pool {
  int64_t C, K, S, P;
  bool relu; // a relu after the pool, as its epilogue
};

std::ostream &operator<<(std::ostream &os, const Pool &p) {
  return os << p.C << " channels, " << p.K << "x" << p.K << " stride " << p.S
            << " padding " << p.P << (p.relu ? ", relu" : "");
}

mtl::kg::Function poolStep(const Pool &p, bool argmax) {
  const int64_t N = 3, H = 9, O = (H + 2 * p.P - p.K) / p.S + 1, C = p.C;
  Builder b("pool_step");
  int x = b.arg(ArgKind::Input, "x", {N, H, H, C});
  int g = b.arg(ArgKind::Input, "pooled_grad", {N, O, O, C});
  const std::map<std::string, std::vector<int64_t>> win = {
      {"kernel", {p.K, p.K}}, {"stride", {p.S, p.S}}, {"padding", {p.P, p.P}}};
  int y = b.op("max_pool", {x}, {N, O, O, C}, win);
  if (p.relu)
    y = b.op("relu", {y}, {N, O, O, C}, {{"mtl.fused_epilogue", {1}}});
  std::vector<int> in = {g, x};
  if (argmax) {
    int a = b.op("max_pool_argmax", {x}, {N, O, O, C}, win);
    b.fn.values[a].dtype = DType::I8;
    in.push_back(a);
  }
  int dx = b.op("max_pool_grad", in, {N, H, H, C}, win);
  b.out(ArgKind::Prediction, "pooled", y);
  b.out(ArgKind::Prediction, "dx", dx);
  return b.fn;
}

class PoolArgmax : public ::testing::TestWithParam<Pool> {};

TEST_P(PoolArgmax, MatchesFindingTheMaximaAgain) {
  mtl::kg::Function fn = poolStep(GetParam(), true);
  EXPECT_TRUE(inOneSegment(fn, "max_pool", "max_pool_argmax"));
  expectSegmentedMatchesWhole(fn);
  mtl::kg::Function again = poolStep(GetParam(), false);
  std::vector<HostTensor> args = randomArgs(fn, 5);
  expectOutputsNear(fn, runSegmented(fn, segmentFunction(fn), args),
                    runSegmented(again, segmentFunction(again), args), 0);
}

INSTANTIATE_TEST_SUITE_P(Pools, PoolArgmax,
                         ::testing::Values(Pool{16, 2, 2, 0, false},
                                           Pool{16, 2, 2, 0, true},
                                           Pool{16, 3, 2, 1, false},
                                           Pool{5, 3, 2, 0, true},
                                           Pool{32, 3, 3, 0, false}));

} // namespace
