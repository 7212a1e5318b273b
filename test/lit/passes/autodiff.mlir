// RUN: mtl-opt %s -split-input-file -mtl-autodiff -verify-diagnostics | FileCheck %s

// Two heads read the backbone output: their input gradients meet in one
// explicit mtl.join; each loss is seeded with its task weight; the image
// input gets no gradient (activity analysis).
// CHECK-LABEL: func.func @train_step
func.func @model() {
  %x = mtl.input "image" : tensor<4x8x8x1xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x2xf32>
  %b = mtl.param "c.bias" {init = "zeros"} : tensor<2xf32>
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<4x8x8x1xf32>, tensor<3x3x1x2xf32>, tensor<2xf32>) -> tensor<4x8x8x2xf32>
  %r = mtl.relu %c : (tensor<4x8x8x2xf32>) -> tensor<4x8x8x2xf32>
  %p = mtl.max_pool %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<4x8x8x2xf32>) -> tensor<4x4x4x2xf32>
  %f = mtl.flatten %p : (tensor<4x4x4x2xf32>) -> tensor<4x32xf32>
  %w1 = mtl.param "a.weight" : tensor<32x3xf32>
  %l1 = mtl.dense %f, %w1 : (tensor<4x32xf32>, tensor<32x3xf32>) -> tensor<4x3xf32>
  %t1 = mtl.target "a" : tensor<4xi32>
  %m1 = mtl.mask "a" : tensor<4xf32>
  %loss1 = mtl.softmax_cross_entropy %l1, %t1, %m1 : (tensor<4x3xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "a" loss(%loss1 : tensor<f32>) prediction(%l1 : tensor<4x3xf32>) {weight = 2.0 : f64}
  %w2 = mtl.param "b.weight" : tensor<32x5xf32>
  %l2 = mtl.dense %f, %w2 : (tensor<4x32xf32>, tensor<32x5xf32>) -> tensor<4x5xf32>
  %t2 = mtl.target "b" : tensor<4x5xf32>
  %m2 = mtl.mask "b" : tensor<4xf32>
  %loss2 = mtl.mse %l2, %t2, %m2 : (tensor<4x5xf32>, tensor<4x5xf32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "b" loss(%loss2 : tensor<f32>) prediction(%l2 : tensor<4x5xf32>)
  return
}
// CHECK: %[[X:.*]] = mtl.input "image"
// CHECK: %[[DB:.*]] = mtl.mse_grad {{.*}} {scale = 1.000000e+00 : f64}
// CHECK: %[[DXB:.*]] = mtl.dense_backward_input %[[DB]]
// CHECK: mtl.dense_backward_weight {{.*}}, %[[DB]]
// CHECK: %[[DA:.*]] = mtl.softmax_cross_entropy_grad {{.*}} {scale = 2.000000e+00 : f64}
// CHECK: %[[DXA:.*]] = mtl.dense_backward_input %[[DA]]
// CHECK: %[[J:.*]] = mtl.join %[[DXB]], %[[DXA]] : tensor<4x32xf32>
// CHECK: %[[R:.*]] = mtl.reshape %[[J]] : (tensor<4x32xf32>) -> tensor<4x4x4x2xf32>
// CHECK: %[[P:.*]] = mtl.max_pool_grad %[[R]]
// CHECK: %[[G:.*]] = mtl.relu_grad %[[P]]
// CHECK-NOT: conv2d_backward_input
// CHECK: %[[DW:.*]] = mtl.conv2d_backward_filter %[[X]], %[[G]]
// CHECK: %[[DBIAS:.*]] = mtl.bias_grad %[[G]]
// CHECK: mtl.param_grad "c.weight"(%[[DW]]
// CHECK: mtl.param_grad "c.bias"(%[[DBIAS]]
// CHECK: mtl.param_grad "a.weight"
// CHECK: mtl.param_grad "b.weight"

// -----

// A parameter that reaches no loss cannot be trained.
func.func @model() {
  %x = mtl.input "image" : tensor<4x3xf32>
  // expected-error @+1 {{parameter 'unused' does not affect any task loss}}
  %u = mtl.param "unused" : tensor<3x3xf32>
  %w = mtl.param "w" : tensor<3x2xf32>
  %d = mtl.dense %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %t = mtl.target "t" : tensor<4xi32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.softmax_cross_entropy %d, %t, %m : (tensor<4x2xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "t" loss(%l : tensor<f32>) prediction(%d : tensor<4x2xf32>)
  return
}

// -----

// expected-error @+1 {{mtl-autodiff: no function @model}}
module {
  func.func @other() {
    return
  }
}
