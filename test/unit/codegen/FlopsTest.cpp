//===- FlopsTest.cpp - FLOP counts of the heavy kernels -------------------===//
#include "codegen/Flops.h"
#include "codegen/MemoryPlan.h"

#include <gtest/gtest.h>

using namespace mtl;

namespace {
/// A one-node function: inputs of the given shapes, one result.
kg::Function oneNode(const std::string &op,
                     std::vector<std::vector<int64_t>> inputs,
                     std::vector<int64_t> result) {
  kg::Function fn;
  kg::Node n;
  n.op = op;
  for (auto &shape : inputs) {
    fn.values.push_back({kg::DType::F32, shape});
    n.inputs.push_back(static_cast<int>(fn.values.size()) - 1);
  }
  fn.values.push_back({kg::DType::F32, result});
  n.result = static_cast<int>(fn.values.size()) - 1;
  fn.nodes.push_back(n);
  return fn;
}
} // namespace

TEST(Flops, ConvForwardAndBothBackwardProductsCostTheSame) {
  // conv3x3 32 -> 64 on 128 x 14 x 14: 2 * 128*14*14*64 * 3*3*32.
  const double expected = 2.0 * 128 * 14 * 14 * 64 * 3 * 3 * 32;
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode(
                       "conv2d", {{128, 14, 14, 32}, {3, 3, 32, 64}, {64}},
                       {128, 14, 14, 64})),
                   expected);
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode(
                       "conv2d_backward_input",
                       {{128, 14, 14, 64}, {3, 3, 32, 64}}, {128, 14, 14, 32})),
                   expected);
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode(
                       "conv2d_backward_filter",
                       {{128, 14, 14, 32}, {128, 14, 14, 64}}, {3, 3, 32, 64})),
                   expected);
}

TEST(Flops, DenseProducts) {
  const double expected = 2.0 * 128 * 1568 * 256;
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode(
                       "dense", {{128, 1568}, {1568, 256}}, {128, 256})),
                   expected);
  EXPECT_DOUBLE_EQ(
      codegen::functionFlops(oneNode("dense_backward_input",
                                     {{128, 256}, {1568, 256}}, {128, 1568})),
      expected);
  EXPECT_DOUBLE_EQ(
      codegen::functionFlops(oneNode("dense_backward_weight",
                                     {{128, 1568}, {128, 256}}, {1568, 256})),
      expected);
}

TEST(Flops, RecurrenceProducts) {
  // lstm 28 -> 128 over 28 steps, batch 128: each step's gates (4 x 128)
  // sum 28 input and 128 hidden terms; the backward also sums dh_t over
  // the 512 gate gradients of step t + 1.
  const double NT = 128.0 * 28, G = 512;
  EXPECT_DOUBLE_EQ(
      codegen::functionFlops(oneNode(
          "lstm", {{128, 28, 28}, {28, 512}, {128, 512}, {512}}, {128, 128})),
      2.0 * NT * G * (28 + 128));
  EXPECT_DOUBLE_EQ(
      codegen::functionFlops(
          oneNode("lstm_backward",
                  {{128, 28, 28}, {28, 512}, {128, 512}, {512}, {128, 128}},
                  {128, 28, 640})),
      2.0 * NT * G * (28 + 2 * 128));
  // With the forward's saved state (mtl-save-recurrent-state) the backward
  // only sums dh_t; the state op counts the forward.
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode("lstm_backward",
                                                  {{128, 28, 28},
                                                   {28, 512},
                                                   {128, 512},
                                                   {512},
                                                   {128, 128},
                                                   {29, 6, 128, 128}},
                                                  {128, 28, 640})),
                   2.0 * NT * G * 128);
  EXPECT_DOUBLE_EQ(
      codegen::functionFlops(
          oneNode("lstm_state", {{128, 28, 28}, {28, 512}, {128, 512}, {512}},
                  {29, 6, 128, 128})),
      2.0 * NT * G * (28 + 128));
  // The gru's backward takes two biases: its saved form has 7 operands.
  const double GG = 384;
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode("gru_backward",
                                                  {{128, 28, 28},
                                                   {28, 384},
                                                   {128, 384},
                                                   {384},
                                                   {384},
                                                   {128, 128},
                                                   {29, 5, 128, 128}},
                                                  {128, 28, 896})),
                   2.0 * NT * GG * 128);
}

TEST(Flops, ElementwiseCountsOutputs) {
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode("relu", {{4, 5}}, {4, 5})),
                   20.0);
}

TEST(MemoryPlan, BuffersWithDisjointLifetimesShareMemory) {
  // a -> relu -> b -> relu -> c -> relu -> d: at most two of b, c, d are
  // alive at once, so the arena holds two 4x32 f32 buffers, not three.
  kg::Function fn;
  for (int i = 0; i < 4; ++i)
    fn.values.push_back({kg::DType::F32, {4, 32}});
  fn.args.push_back({kg::ArgKind::Input, "a", 0});
  for (int i = 0; i < 3; ++i) {
    kg::Node n;
    n.op = "relu";
    n.inputs = {i};
    n.result = i + 1;
    fn.nodes.push_back(n);
  }
  fn.outputs.push_back({kg::ArgKind::Prediction, "d", 3});
  codegen::MemoryPlan plan = codegen::planMemory(fn);
  EXPECT_EQ(plan.naiveBytes, 3 * 512);
  EXPECT_EQ(plan.arenaBytes, 2 * 512);
  EXPECT_EQ(plan.offsets[0], -1); // arguments are not planned
  EXPECT_NE(plan.offsets[1], plan.offsets[2]);
  EXPECT_EQ(plan.offsets[1], plan.offsets[3]); // b is dead when d is made
}
