//===- GraphGradTest.cpp - add (residual), concat, reshape ---------------===//
#include "GradCheck.h"

using namespace mtl::gradcheck;

// A residual block: y = relu(conv(x) + x); x has two users (join).
TEST(GraphGrad, ResidualAdd) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x4x4x3xf32>
  %w = mtl.param "w" : tensor<3x3x3x3xf32>
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x4x4x3xf32>, tensor<3x3x3x3xf32>) -> tensor<*xf32>
  %a = mtl.add %c, %x : (tensor<*xf32>, tensor<2x4x4x3xf32>) -> tensor<*xf32>
  %y = mtl.tanh %a : (tensor<*xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x4x4x3", 2));
}

TEST(GraphGrad, AddThreeInputsOneTwice) {
  gradCheck(R"(func.func @model() {
  %a = mtl.param "a" : tensor<3x5xf32>
  %b = mtl.param "b" : tensor<3x5xf32>
  %y = mtl.add %a, %b, %a : (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<*xf32>
)" + mseTail("%y", "3x5", 3));
}

TEST(GraphGrad, ConcatThreeChannels) {
  gradCheck(R"(func.func @model() {
  %a = mtl.param "a" : tensor<2x3x3x2xf32>
  %b = mtl.param "b" : tensor<2x3x3x5xf32>
  %c = mtl.param "c" : tensor<2x3x3x1xf32>
  %y = mtl.concat %a, %b, %c : (tensor<2x3x3x2xf32>, tensor<2x3x3x5xf32>, tensor<2x3x3x1xf32>) -> tensor<*xf32>
  %s = mtl.sigmoid %y : (tensor<*xf32>) -> tensor<*xf32>
)" + mseTail("%s", "2x3x3x8", 2));
}

TEST(GraphGrad, ReshapeIntoConv) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x18xf32>
  %r = mtl.reshape %x : (tensor<2x18xf32>) -> tensor<2x3x3x2xf32>
  %w = mtl.param "w" : tensor<2x2x2x3xf32>
  %y = mtl.conv2d %r, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<2x3x3x2xf32>, tensor<2x2x2x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x2x2x3", 2));
}
