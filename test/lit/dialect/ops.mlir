// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// Round trip of every op's custom syntax.

// CHECK-LABEL: func.func @model
func.func @model() {
  // CHECK: mtl.input "image" : tensor<2x6x6x1xf32>
  %x = mtl.input "image" : tensor<2x6x6x1xf32>
  // CHECK: mtl.param "c.weight" : tensor<3x3x1x4xf32>
  %w = mtl.param "c.weight" : tensor<3x3x1x4xf32>
  // CHECK: mtl.param "c.bias" {init = "zeros"} : tensor<4xf32>
  %b = mtl.param "c.bias" {init = "zeros"} : tensor<4xf32>
  // CHECK: mtl.conv2d %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>}
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x1xf32>, tensor<3x3x1x4xf32>, tensor<4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.relu
  %r = mtl.relu %c : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.max_pool
  %p = mtl.max_pool %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xf32>
  // CHECK: mtl.max_pool_argmax %{{.*}} {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xi8>
  %pa = mtl.max_pool_argmax %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xi8>
  // CHECK: mtl.flatten
  %f = mtl.flatten %p : (tensor<2x3x3x4xf32>) -> tensor<2x36xf32>
  %dw = mtl.param "d.weight" : tensor<36x3xf32>
  // CHECK: mtl.dense %{{.*}}, %{{.*}} : (tensor<2x36xf32>, tensor<36x3xf32>) -> tensor<2x3xf32>
  %d = mtl.dense %f, %dw : (tensor<2x36xf32>, tensor<36x3xf32>) -> tensor<2x3xf32>
  // CHECK: mtl.target "t" : tensor<2xi32>
  %t = mtl.target "t" : tensor<2xi32>
  // CHECK: mtl.mask "t" : tensor<2xf32>
  %m = mtl.mask "t" : tensor<2xf32>
  // CHECK: mtl.softmax_cross_entropy
  %l = mtl.softmax_cross_entropy %d, %t, %m : (tensor<2x3xf32>, tensor<2xi32>, tensor<2xf32>) -> tensor<f32>
  // CHECK: mtl.task "t" loss(%{{.*}} : tensor<f32>) prediction(%{{.*}} : tensor<2x3xf32>) {weight = 5.000000e-01 : f64}
  mtl.task "t" loss(%l : tensor<f32>) prediction(%d : tensor<2x3xf32>) {weight = 0.5 : f64}
  %g = mtl.softmax_cross_entropy_grad %d, %t, %m {scale = 0.5 : f64} : (tensor<2x3xf32>, tensor<2xi32>, tensor<2xf32>) -> tensor<2x3xf32>
  // CHECK: mtl.join %{{.*}}, %{{.*}} : tensor<2x3xf32>
  %j = mtl.join %g, %g : tensor<2x3xf32>
  // CHECK: mtl.dense_backward_weight
  %gw = mtl.dense_backward_weight %f, %j : (tensor<2x36xf32>, tensor<2x3xf32>) -> tensor<36x3xf32>
  // CHECK: mtl.param_grad "d.weight"(%{{.*}} : tensor<36x3xf32>)
  mtl.param_grad "d.weight"(%gw : tensor<36x3xf32>)
  return
}
