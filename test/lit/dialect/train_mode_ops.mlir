// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// batch_norm, dropout, reparameterize, the ops of batch_norm's training
// expansion and the gradient ops round-trip.

// CHECK-LABEL: func.func @forward
func.func @forward(%x: tensor<2x3x3x4xf32>, %c: tensor<4xf32>, %z: tensor<5x6xf32>, %s: tensor<i32>) {
  // CHECK: mtl.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {eps = 1.000000e-03 : f64, momentum = 2.000000e-01 : f64} : (tensor<2x3x3x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x3x4xf32>
  %y = mtl.batch_norm %x, %c, %c, %c, %c {momentum = 0.2 : f64, eps = 1.0e-3 : f64} : (tensor<2x3x3x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x3x4xf32>
  // CHECK: mtl.dropout %{{.*}}, %{{.*}} {rate = 2.500000e-01 : f64, stream = 7 : i64, training = true} : (tensor<2x3x3x4xf32>, tensor<i32>) -> tensor<2x3x3x4xf32>
  %d = mtl.dropout %y, %s {rate = 0.25 : f64, stream = 7, training = true} : (tensor<2x3x3x4xf32>, tensor<i32>) -> tensor<2x3x3x4xf32>
  // CHECK: mtl.reparameterize %{{.*}}, %{{.*}}, %{{.*}} {stream = 3 : i64} : (tensor<5x6xf32>, tensor<5x6xf32>, tensor<i32>) -> tensor<5x6xf32>
  %r = mtl.reparameterize %z, %z, %s {stream = 3} : (tensor<5x6xf32>, tensor<5x6xf32>, tensor<i32>) -> tensor<5x6xf32>
  // CHECK: mtl.reparameterize_grad %{{.*}}, %{{.*}}, %{{.*}} {training = true} : (tensor<5x6xf32>, tensor<5x6xf32>, tensor<i32>) -> tensor<5x6xf32>
  %rg = mtl.reparameterize_grad %r, %z, %s {training = true} : (tensor<5x6xf32>, tensor<5x6xf32>, tensor<i32>) -> tensor<5x6xf32>
  return
}

// CHECK-LABEL: func.func @expanded
func.func @expanded(%x: tensor<8x4xf32>, %c: tensor<4xf32>) {
  // CHECK: %[[S:.*]] = mtl.batch_stats %{{.*}} : (tensor<8x4xf32>) -> tensor<2x4xf32>
  %s = mtl.batch_stats %x : (tensor<8x4xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.batch_norm_train %{{.*}}, %[[S]], %{{.*}}, %{{.*}} : (tensor<8x4xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %y = mtl.batch_norm_train %x, %s, %c, %c : (tensor<8x4xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  // CHECK: mtl.batch_norm_update_stat %{{.*}}, %[[S]] {count = 8 : i64, row = 1 : i64}
  %v = mtl.batch_norm_update_stat %c, %s {row = 1, count = 8} : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<4xf32>
  // CHECK: mtl.batch_norm_grad_gamma
  %g = mtl.batch_norm_grad_gamma %x, %x, %s : (tensor<8x4xf32>, tensor<8x4xf32>, tensor<2x4xf32>) -> tensor<4xf32>
  // CHECK: mtl.batch_norm_backward_input
  %dx = mtl.batch_norm_backward_input %x, %x, %s, %c, %g, %c : (tensor<8x4xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  return
}
