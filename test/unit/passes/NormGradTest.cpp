//===- NormGradTest.cpp - layer_norm -------------------------------------===//
#include "GradCheck.h"

using namespace mtl::gradcheck;

TEST(NormGrad, LayerNormRank2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<3x7xf32>
  %g = mtl.param "g" : tensor<7xf32>
  %b = mtl.param "b" : tensor<7xf32>
  %y = mtl.layer_norm %x, %g, %b : (tensor<3x7xf32>, tensor<7xf32>, tensor<7xf32>) -> tensor<*xf32>
)" + mseTail("%y", "3x7", 3),
            false, 16);
}

TEST(NormGrad, LayerNormNHWCChannels) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x2x18xf32>
  %g = mtl.param "g" : tensor<18xf32>
  %b = mtl.param "b" : tensor<18xf32>
  %y = mtl.layer_norm %x, %g, %b {eps = 1.0e-3} : (tensor<2x3x2x18xf32>, tensor<18xf32>, tensor<18xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x3x2x18", 2),
            false, 16);
}
