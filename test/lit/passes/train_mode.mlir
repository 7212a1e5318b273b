// RUN: mtl-opt %s -split-input-file -mtl-autodiff -verify-diagnostics | FileCheck %s
// The training expansions: in @train_step batch_norm becomes the batch's
// statistics, normalization with them and the running-statistics updates
// (states); @model keeps the evaluation form. dropout and reparameterize
// get their training flag and gradients that regenerate the same noise.

func.func @model() {
  %x = mtl.input "image" : tensor<4x3x3x2xf32>
  %w = mtl.param "c.weight" : tensor<1x1x2x2xf32>
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<4x3x3x2xf32>, tensor<1x1x2x2xf32>) -> tensor<4x3x3x2xf32>
  %g = mtl.param "bn.gamma" {init = "ones"} : tensor<2xf32>
  %b = mtl.param "bn.beta" {init = "zeros"} : tensor<2xf32>
  %rm = mtl.state "bn.running_mean" : tensor<2xf32>
  %rv = mtl.state "bn.running_var" {init = "ones"} : tensor<2xf32>
  %y = mtl.batch_norm %c, %g, %b, %rm, %rv {momentum = 0.2 : f64} : (tensor<4x3x3x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x3x3x2xf32>
  %t = mtl.target "t" : tensor<4x3x3x2xf32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.mse %y, %t, %m : (tensor<4x3x3x2xf32>, tensor<4x3x3x2xf32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "t" loss(%l : tensor<f32>) prediction(%y : tensor<4x3x3x2xf32>)
  return
}
// CHECK-LABEL: func.func @model
// CHECK: mtl.batch_norm %{{.*}} {momentum = 2.000000e-01 : f64}
// CHECK-NOT: batch_stats
// CHECK-LABEL: func.func @train_step
// CHECK: %[[C:.*]] = mtl.conv2d
// CHECK-NOT: mtl.batch_norm %
// CHECK: %[[S:.*]] = mtl.batch_stats %[[C]] : (tensor<4x3x3x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[Y:.*]] = mtl.batch_norm_train %[[C]], %[[S]], %{{.*}}, %{{.*}} :
// CHECK: %[[M:.*]] = mtl.batch_norm_update_stat %{{.*}}, %[[S]] {count = 36 : i64, momentum = 2.000000e-01 : f64, row = 0 : i64}
// CHECK: mtl.state_update "bn.running_mean"(%[[M]] : tensor<2xf32>)
// CHECK: %[[V:.*]] = mtl.batch_norm_update_stat %{{.*}}, %[[S]] {count = 36 : i64, momentum = 2.000000e-01 : f64, row = 1 : i64}
// CHECK: mtl.state_update "bn.running_var"(%[[V]] : tensor<2xf32>)
// CHECK: %[[DY:.*]] = mtl.mse_grad
// CHECK: %[[DG:.*]] = mtl.batch_norm_grad_gamma %[[DY]], %[[C]], %[[S]]
// CHECK: %[[DB:.*]] = mtl.bias_grad %[[DY]]
// CHECK: %[[DX:.*]] = mtl.batch_norm_backward_input %[[DY]], %[[C]], %[[S]], %{{.*}}, %[[DG]], %[[DB]]
// CHECK: mtl.conv2d_backward_filter %{{.*}}, %[[DX]]
// CHECK-DAG: mtl.param_grad "bn.gamma"(%[[DG]] : tensor<2xf32>)
// CHECK-DAG: mtl.param_grad "bn.beta"(%[[DB]] : tensor<2xf32>)

// -----

func.func @model() {
  %x = mtl.param "x" : tensor<4x6xf32>
  %s = mtl.seed : tensor<i32>
  %d = mtl.dropout %x, %s {rate = 0.3 : f64, stream = 11} : (tensor<4x6xf32>, tensor<i32>) -> tensor<4x6xf32>
  %lv = mtl.param "lv" : tensor<4x6xf32>
  %z = mtl.reparameterize %d, %lv, %s {stream = 12} : (tensor<4x6xf32>, tensor<4x6xf32>, tensor<i32>) -> tensor<4x6xf32>
  %t = mtl.target "t" : tensor<4x6xf32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.mse %z, %t, %m : (tensor<4x6xf32>, tensor<4x6xf32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "t" loss(%l : tensor<f32>) prediction(%z : tensor<4x6xf32>)
  return
}
// CHECK-LABEL: func.func @model
// CHECK: mtl.dropout %{{.*}} {rate = 3.000000e-01 : f64, stream = 11 : i64}
// CHECK-LABEL: func.func @train_step
// CHECK: %[[S:.*]] = mtl.seed
// CHECK: %[[D:.*]] = mtl.dropout %{{.*}}, %[[S]] {rate = 3.000000e-01 : f64, stream = 11 : i64, training = true}
// CHECK: mtl.reparameterize %[[D]], %[[LV:.*]], %[[S]] {stream = 12 : i64, training = true}
// CHECK: %[[DZ:.*]] = mtl.mse_grad
// CHECK: %[[DLV:.*]] = mtl.reparameterize_grad %[[DZ]], %[[LV]], %[[S]] {stream = 12 : i64, training = true}
// CHECK: %[[DX:.*]] = mtl.dropout %[[DZ]], %[[S]] {rate = 3.000000e-01 : f64, stream = 11 : i64, training = true}
// CHECK-DAG: mtl.param_grad "x"(%[[DX]] : tensor<4x6xf32>)
// CHECK-DAG: mtl.param_grad "lv"(%[[DLV]] : tensor<4x6xf32>)

// -----

// Running statistics that are not states cannot be updated.
func.func @model(%rm: tensor<2xf32>) {
  %x = mtl.param "x" : tensor<4x2xf32>
  %g = mtl.param "g" : tensor<2xf32>
  // expected-error @+1 {{batch_norm in training mode needs its running statistics to be mtl.state tensors}}
  %y = mtl.batch_norm %x, %g, %g, %rm, %rm : (tensor<4x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %t = mtl.target "t" : tensor<4x2xf32>
  %m = mtl.mask "t" : tensor<4xf32>
  %l = mtl.mse %y, %t, %m : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<f32>
  mtl.task "t" loss(%l : tensor<f32>) prediction(%y : tensor<4x2xf32>)
  return
}
