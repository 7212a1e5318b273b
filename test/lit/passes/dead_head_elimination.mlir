// RUN: mtl-opt %s -split-input-file -mtl-dead-head-elimination="tasks=a" -verify-diagnostics | FileCheck %s

// Only task 'a' is kept: task 'b' goes, with its head, its parameters, its
// loss, target and mask; the shared backbone stays.
// CHECK-LABEL: func.func @model
// expected-remark @+1 {{dead-head elimination kept 1 of 2 tasks, removed 1 tasks, 5 ops (1 parameters)}}
func.func @model() {
  // CHECK: mtl.input "image"
  %x = mtl.input "image" : tensor<4x8xf32>
  // CHECK: mtl.param "backbone.weight"
  %w = mtl.param "backbone.weight" : tensor<8x8xf32>
  %h = mtl.dense %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  // CHECK: mtl.param "a.weight"
  %wa = mtl.param "a.weight" : tensor<8x3xf32>
  %ya = mtl.dense %h, %wa : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<4x3xf32>
  %ta = mtl.target "a" : tensor<4xi32>
  %ma = mtl.mask "a" : tensor<4xf32>
  %la = mtl.softmax_cross_entropy %ya, %ta, %ma : (tensor<4x3xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.task "a"
  mtl.task "a" loss(%la : tensor<f32>) prediction(%ya : tensor<4x3xf32>)
  // CHECK-NOT: "b.weight"
  // CHECK-NOT: mtl.target "b"
  // CHECK-NOT: mtl.mse
  // CHECK-NOT: mtl.task "b"
  %wb = mtl.param "b.weight" : tensor<8x2xf32>
  %yb = mtl.dense %h, %wb : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  %tb = mtl.target "b" : tensor<4x2xf32>
  %mb = mtl.mask "b" : tensor<4xf32>
  %lb = mtl.mse %yb, %tb, %mb : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "b" loss(%lb : tensor<f32>) prediction(%yb : tensor<4x2xf32>)
  return
}

// -----

// expected-error @+1 {{--tasks names unknown task 'a' (the spec's tasks: label)}}
func.func @model() {
  %x = mtl.input "image" : tensor<4x8xf32>
  %t = mtl.target "label" : tensor<4xi32>
  %m = mtl.mask "label" : tensor<4xf32>
  %w = mtl.param "w" : tensor<8x3xf32>
  %y = mtl.dense %x, %w : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<4x3xf32>
  %l = mtl.softmax_cross_entropy %y, %t, %m : (tensor<4x3xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "label" loss(%l : tensor<f32>) prediction(%y : tensor<4x3xf32>)
  return
}
