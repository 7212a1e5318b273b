// RUN: mtl-opt %s -split-input-file -mtl-shape-inference -verify-diagnostics | FileCheck %s

// Unranked results get the shape of their rule, in program order.
// CHECK-LABEL: func.func @chain
func.func @chain() {
  %x = mtl.input "image" : tensor<8x28x28x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x16xf32>
  // CHECK: mtl.conv2d {{.*}} -> tensor<8x14x14x16xf32>
  %c = mtl.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<8x28x28x1xf32>, tensor<3x3x1x16xf32>) -> tensor<*xf32>
  // CHECK: mtl.relu {{.*}} -> tensor<8x14x14x16xf32>
  %r = mtl.relu %c : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK: mtl.max_pool {{.*}} -> tensor<8x4x4x16xf32>
  %p = mtl.max_pool %r {kernel = array<i64: 3, 3>, stride = array<i64: 3, 3>} : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK: mtl.flatten {{.*}} -> tensor<8x256xf32>
  %f = mtl.flatten %p : (tensor<*xf32>) -> tensor<*xf32>
  %dw = mtl.param "d.weight" : tensor<256x10xf32>
  // CHECK: mtl.dense {{.*}} -> tensor<8x10xf32>
  %d = mtl.dense %f, %dw : (tensor<*xf32>, tensor<256x10xf32>) -> tensor<*xf32>
  %t = mtl.target "t" : tensor<8xi32>
  %m = mtl.mask "t" : tensor<8xf32>
  // CHECK: mtl.softmax_cross_entropy {{.*}} -> tensor<f32>
  %l = mtl.softmax_cross_entropy %d, %t, %m : (tensor<*xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<*xf32>
  mtl.task "t" loss(%l : tensor<*xf32>) prediction(%d : tensor<*xf32>)
  return
}

// -----

// An impossible shape is reported at the op that cannot be built.
func.func @dense_after_conv() {
  %x = mtl.input "image" : tensor<8x28x28x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x4xf32>
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<8x28x28x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  %dw = mtl.param "d.weight" : tensor<3136x10xf32>
  // expected-error @+1 {{dense expects an input [batch, features] of rank 2, got [8, 28, 28, 4]; add a 'flatten' layer before it}}
  %d = mtl.dense %c, %dw : (tensor<*xf32>, tensor<3136x10xf32>) -> tensor<*xf32>
  return
}
