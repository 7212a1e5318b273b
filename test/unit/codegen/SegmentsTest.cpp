//===- SegmentsTest.cpp - which nodes share a segment ---------------------===//
//
// The batch norm's backward totals (codegen/ops/TrainMode.cpp) need their
// producer and the bias_grad that reads them in one segment, and a segment
// copy of a batch_norm_backward_input whose total is in closed form marked,
// since the segment no longer holds the producers that prove it.
//
//===----------------------------------------------------------------------===//
#include "codegen/Segments.h"

#include <gtest/gtest.h>

using namespace mtl;

namespace {

struct Builder {
  kg::Function fn;
  int value(std::vector<int64_t> shape) {
    fn.values.push_back({kg::DType::F32, std::move(shape)});
    return static_cast<int>(fn.values.size()) - 1;
  }
  int arg(kg::ArgKind kind, const std::string &name,
          std::vector<int64_t> shape) {
    int v = value(std::move(shape));
    fn.args.push_back({kind, name, v});
    return v;
  }
  int node(const std::string &op, std::vector<int> inputs,
           std::vector<int64_t> shape) {
    kg::Node n;
    n.op = op;
    n.inputs = std::move(inputs);
    n.result = value(std::move(shape));
    fn.nodes.push_back(n);
    return n.result;
  }
  void output(const std::string &name, int v) {
    fn.outputs.push_back({kg::ArgKind::Grad, name, v});
  }
};

/// The segment holding the node that produces `v`.
const codegen::Segment *segmentOf(const codegen::SegmentedFunction &sf, int v) {
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      if (n.result == v)
        return &s;
  return nullptr;
}

/// A conv bias before a batch norm, as autodiff emits its gradients; with
/// `batchStats` false the statistics are an argument instead.
struct BatchNormBackward {
  Builder b;
  int dgamma, dbeta, dx, dbias, after;
  explicit BatchNormBackward(bool batchStats) {
    const std::vector<int64_t> s = {4, 3, 3, 2};
    int x = b.arg(kg::ArgKind::Input, "x", s);
    int dy = b.arg(kg::ArgKind::Target, "dy", s);
    int gamma = b.arg(kg::ArgKind::Param, "gamma", {2});
    int stats = batchStats ? b.node("batch_stats", {x}, {2, 2})
                           : b.arg(kg::ArgKind::State, "stats", {2, 2});
    dgamma = b.node("batch_norm_grad_gamma", {dy, x, stats}, {2});
    dbeta = b.node("bias_grad", {dy}, {2});
    dx = b.node("batch_norm_backward_input",
                {dy, x, stats, gamma, dgamma, dbeta}, s);
    dbias = b.node("bias_grad", {dx}, {2});
    after = b.node("relu", {dx}, s);
    for (auto [name, v] : {std::pair{"gamma", dgamma},
                           {"beta", dbeta},
                           {"bias", dbias},
                           {"after", after}})
      b.output(name, v);
  }
};

} // namespace

TEST(Segments, BatchNormTotalsShareTheirSegments) {
  BatchNormBackward g(true);
  const kg::Node &bn = g.b.fn.nodes[3]; // batch_norm_backward_input
  ASSERT_EQ(bn.op, "batch_norm_backward_input");
  EXPECT_TRUE(codegen::hasClosedFormTotal(g.b.fn, bn));
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  // dgamma and dbeta: one pass over dy.
  EXPECT_EQ(segmentOf(sf, g.dgamma), segmentOf(sf, g.dbeta));
  // dx and the bias gradient taken from it in closed form, marked.
  const codegen::Segment *s = segmentOf(sf, g.dx);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s, segmentOf(sf, g.dbias));
  EXPECT_NE(s, segmentOf(sf, g.after));
  for (const kg::Node &n : s->fn.nodes)
    if (n.op == "batch_norm_backward_input") {
      EXPECT_TRUE(n.ints.count("mtl.closed_total"));
      // The mark alone proves it once the producers are elsewhere.
      EXPECT_TRUE(codegen::hasClosedFormTotal(s->fn, n));
    }
}

TEST(Segments, NoClosedFormWithoutTheBatchStatistics) {
  // Statistics from elsewhere (not the batch_stats of x): sum(x) is not M
  // mean, so the bias gradient needs its own pass and no mark is set.
  BatchNormBackward g(false);
  const kg::Node &bn = g.b.fn.nodes[2];
  ASSERT_EQ(bn.op, "batch_norm_backward_input");
  EXPECT_FALSE(codegen::hasClosedFormTotal(g.b.fn, bn));
  codegen::SegmentedFunction sf = codegen::segmentFunction(g.b.fn);
  for (const codegen::Segment &s : sf.segments)
    for (const kg::Node &n : s.fn.nodes)
      EXPECT_FALSE(n.ints.count("mtl.closed_total")) << n.op;
  EXPECT_EQ(segmentOf(sf, g.dgamma), segmentOf(sf, g.dbeta));
}
