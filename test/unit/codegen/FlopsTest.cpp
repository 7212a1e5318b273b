//===- FlopsTest.cpp - FLOP counts of the heavy kernels -------------------===//
#include "codegen/Flops.h"

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

TEST(Flops, ElementwiseCountsOutputs) {
  EXPECT_DOUBLE_EQ(codegen::functionFlops(oneNode("relu", {{4, 5}}, {4, 5})),
                   20.0);
}
