//===- ResampleGradTest.cpp - avg_pool, global_avg_pool, upsample --------===//
#include "GradCheck.h"

using namespace mtl::gradcheck;

TEST(ResampleGrad, AvgPoolOverlapping3x3Stride2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x3xf32>
  %y = mtl.avg_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : (tensor<2x5x5x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x2x2x3", 2),
            false, 24);
}

// Zero padding 1, counted in the mean (PyTorch's count_include_pad).
TEST(ResampleGrad, AvgPoolPadded3x3Stride2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x3xf32>
  %y = mtl.avg_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<2x5x5x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x3x3x3", 2),
            false, 24);
}

TEST(ResampleGrad, GlobalAvgPool) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x4x18xf32>
  %y = mtl.global_avg_pool %x : (tensor<2x3x4x18xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x18", 2),
            false, 24);
}

TEST(ResampleGrad, UpsampleNearest) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x2x3xf32>
  %y = mtl.upsample %x {scale = array<i64: 2, 3>, mode = "nearest"} : (tensor<2x3x2x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x6x6x3", 2),
            false, 24);
}

TEST(ResampleGrad, UpsampleBilinear) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x4x2xf32>
  %y = mtl.upsample %x {scale = array<i64: 2, 3>, mode = "bilinear"} : (tensor<2x3x4x2xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x6x12x2", 2),
            false, 48);
}
