//===- GradCheckTest.cpp - Every gradient rule against finite differences ===//
//
// Each test writes a small @model in the mtl dialect, runs the real pass
// pipeline (shape inference, autodiff), lowers @train_step and @model to
// kernel graphs and runs them through the real Halide lowering (JIT). The
// analytic gradient of sum_t weight_t * loss_t for every parameter is then
// compared with central finite differences of the eval step's losses.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"

using namespace mtl;
using namespace mtl::gradcheck;

TEST(GradCheck, Conv2DStride1Pad1) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x3xf32>
  %w = mtl.param "w" : tensor<3x3x3x4xf32>
  %b = mtl.param "b" : tensor<4xf32>
  %y = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x5x5x3xf32>, tensor<3x3x3x4xf32>, tensor<4xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x5x5x4", 2));
}

TEST(GradCheck, Conv2DStride2NoPadRectKernel) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x7x6x2xf32>
  %w = mtl.param "w" : tensor<3x2x2x3xf32>
  %y = mtl.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 0, 1>} : (tensor<2x7x6x2xf32>, tensor<3x2x2x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x3x4x3", 2));
}

TEST(GradCheck, DenseWithBias) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<3x7xf32>
  %w = mtl.param "w" : tensor<7x5xf32>
  %b = mtl.param "b" : tensor<5xf32>
  %y = mtl.dense %x, %w, %b : (tensor<3x7xf32>, tensor<7x5xf32>, tensor<5xf32>) -> tensor<*xf32>
)" + mseTail("%y", "3x5", 3));
}

TEST(GradCheck, Relu) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<3x2x2x4xf32>
  %y = mtl.relu %x : (tensor<3x2x2x4xf32>) -> tensor<*xf32>
)" + mseTail("%y", "3x2x2x4", 3));
}

TEST(GradCheck, MaxPool2x2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x4x6x3xf32>
  %y = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x6x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x2x3x3", 2),
            /*distinct=*/true, 24);
}

TEST(GradCheck, MaxPoolOverlapping3x3Stride2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x2xf32>
  %y = mtl.max_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>} : (tensor<2x5x5x2xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x2x2x2", 2),
            /*distinct=*/true, 24);
}

// Padding 1 (-inf): a 3x3 stride-2 pool over 5x5 gives 3x3 windows, the
// border ones partly outside the input.
TEST(GradCheck, MaxPoolPadded3x3Stride2) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x5x5x2xf32>
  %y = mtl.max_pool %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<2x5x5x2xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x3x3x2", 2),
            /*distinct=*/true, 24);
}

TEST(GradCheck, FlattenIntoDense) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<2x3x3x2xf32>
  %f = mtl.flatten %x : (tensor<2x3x3x2xf32>) -> tensor<*xf32>
  %w = mtl.param "w" : tensor<18x4xf32>
  %y = mtl.dense %f, %w : (tensor<*xf32>, tensor<18x4xf32>) -> tensor<*xf32>
)" + mseTail("%y", "2x4", 2));
}

TEST(GradCheck, SoftmaxCrossEntropyMasked) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "logits" : tensor<4x5xf32>
  %t = mtl.target "t" : tensor<4xi32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.softmax_cross_entropy %x, %t, %m : (tensor<4x5xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<*xf32>
  mtl.task "t" loss(%l : tensor<*xf32>) prediction(%x : tensor<4x5xf32>) {weight = 0.7 : f64}
  return
})",
            false, 20);
}

TEST(GradCheck, MseMasked) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<4x3xf32>
)" + mseTail("%x", "4x3", 4, "tensor<4x3xf32>"),
            false, 12);
}

// The multi-task case: two heads share a conv backbone; their gradients meet
// in mtl.join at the flatten output.
TEST(GradCheck, TwoHeadsJoinAtBackbone) {
  gradCheck(R"(func.func @model() {
  %x = mtl.input "image" : tensor<3x6x6x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x4xf32>
  %b = mtl.param "c.bias" : tensor<4xf32>
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<3x6x6x1xf32>, tensor<3x3x1x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  %r = mtl.relu %c : (tensor<*xf32>) -> tensor<*xf32>
  %p = mtl.max_pool %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32>
  %f = mtl.flatten %p : (tensor<*xf32>) -> tensor<*xf32>
  %w1 = mtl.param "a.weight" : tensor<36x5xf32>
  %b1 = mtl.param "a.bias" : tensor<5xf32>
  %y1 = mtl.dense %f, %w1, %b1 : (tensor<*xf32>, tensor<36x5xf32>, tensor<5xf32>) -> tensor<*xf32>
  %t1 = mtl.target "a" : tensor<3xi32>
  %m1 = mtl.mask "a" : tensor<3xf32>
  %l1 = mtl.softmax_cross_entropy %y1, %t1, %m1 : (tensor<*xf32>, tensor<3xi32>, tensor<3xf32>) -> tensor<*xf32>
  mtl.task "a" loss(%l1 : tensor<*xf32>) prediction(%y1 : tensor<*xf32>) {weight = 0.7 : f64}
  %w2 = mtl.param "b.weight" : tensor<36x2xf32>
  %y2 = mtl.dense %f, %w2 : (tensor<*xf32>, tensor<36x2xf32>) -> tensor<*xf32>
)" + mseTail("%y2", "3x2", 3));
}
