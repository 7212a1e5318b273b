//===- ConvGradTest.cpp - dilated / grouped conv2d, conv_transpose2d -----===//
#include "GradCheck.h"

using namespace mtl::gradcheck;

TEST(ConvGrad, Conv2DDilation2Pad2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x6x5x3xf32>
  %w = mtl.param "w" : tensor<3x3x3x4xf32>
  %b = mtl.param "b" : tensor<4xf32>
  %y = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 2, 1>, dilation = array<i64: 2, 2>} : (tensor<2x6x5x3xf32>, tensor<3x3x3x4xf32>, tensor<4xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x6x3x4", 2));
}

TEST(ConvGrad, Conv2DGroups2Stride2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x4xf32>
  %w = mtl.param "w" : tensor<3x3x2x6xf32>
  %y = mtl.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, groups = 2} : (tensor<2x5x5x4xf32>, tensor<3x3x2x6xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x3x3x6", 2));
}

TEST(ConvGrad, Conv2DDepthwiseDilated) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x6x6x5xf32>
  %w = mtl.param "w" : tensor<3x3x1x5xf32>
  %y = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 2, 2>, dilation = array<i64: 2, 1>, groups = 5} : (tensor<2x6x6x5xf32>, tensor<3x3x1x5xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x6x8x5", 2));
}

TEST(ConvGrad, ConvTranspose2DStride2OutputPadding) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x4x3xf32>
  %w = mtl.param "w" : tensor<3x3x2x3xf32>
  %b = mtl.param "b" : tensor<2xf32>
  %y = mtl.conv_transpose2d %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, output_padding = array<i64: 1, 0>} : (tensor<2x3x4x3xf32>, tensor<3x3x2x3xf32>, tensor<2xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x6x7x2", 2));
}
