// RUN: mtl-opt %s -split-input-file -mtl-fuse-losses -verify-diagnostics | FileCheck %s

// A train step's two task losses: each loss and its gradient over the same
// operands get one mtl.loss_group (codegen computes their shared
// log-sum-exp and mask denominator once; the per-sample stages of both
// groups in one loop over the batch).
// CHECK-LABEL: func.func @two_tasks
func.func @two_tasks(%l: tensor<8x10xf32>, %t: tensor<8xi32>, %m: tensor<8xf32>, %p: tensor<8x4xf32>, %q: tensor<8x4xf32>) -> (tensor<f32>, tensor<8x10xf32>, tensor<f32>, tensor<8x4xf32>) {
  // CHECK: mtl.softmax_cross_entropy {{.*}} {mtl.loss_group = 0 : i64}
  // CHECK: mtl.mse {{.*}} {mtl.loss_group = 1 : i64}
  // CHECK: mtl.softmax_cross_entropy_grad {{.*}} {mtl.loss_group = 0 : i64, scale = 5.000000e-01 : f64}
  // CHECK: mtl.mse_grad {{.*}} {mtl.loss_group = 1 : i64, scale = 1.000000e+00 : f64}
  // expected-remark @+1 {{loss group 0: 'softmax_cross_entropy' and 1 gradient op(s) computed together}}
  %a = mtl.softmax_cross_entropy %l, %t, %m : (tensor<8x10xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<f32>
  // expected-remark @+1 {{loss group 1: 'mse' and 1 gradient op(s) computed together}}
  %b = mtl.mse %p, %q, %m : (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<f32>
  %ga = mtl.softmax_cross_entropy_grad %l, %t, %m {scale = 0.5 : f64} : (tensor<8x10xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<8x10xf32>
  %gb = mtl.mse_grad %p, %q, %m {scale = 1.0 : f64} : (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<8x4xf32>
  return %a, %ga, %b, %gb : tensor<f32>, tensor<8x10xf32>, tensor<f32>, tensor<8x4xf32>
}

// -----

// Must not apply: a gradient over other operands (another mask) is not the
// loss's gradient; a forward-only loss forms a group of its own.
// CHECK-LABEL: func.func @not_paired
func.func @not_paired(%l: tensor<8x10xf32>, %t: tensor<8xi32>, %m: tensor<8xf32>, %m2: tensor<8xf32>) -> (tensor<f32>, tensor<8x10xf32>) {
  // CHECK: mtl.softmax_cross_entropy {{.*}} {mtl.loss_group = 0 : i64}
  // CHECK: mtl.softmax_cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.000000e+00 : f64} :
  // expected-remark @+1 {{loss group 0: no gradient (forward only)}}
  %a = mtl.softmax_cross_entropy %l, %t, %m : (tensor<8x10xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<f32>
  %g = mtl.softmax_cross_entropy_grad %l, %t, %m2 {scale = 1.0 : f64} : (tensor<8x10xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<8x10xf32>
  return %a, %g : tensor<f32>, tensor<8x10xf32>
}
