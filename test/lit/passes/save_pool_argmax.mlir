// RUN: mtl-opt %s -split-input-file -mtl-save-pool-argmax | FileCheck %s
// RUN: mtl-opt %s -split-input-file -mtl-save-pool-argmax=all=true | FileCheck %s --check-prefix=ALL

// A first layer (a 3 x 3 conv over one channel, its batch norm and relu,
// recomputed by codegen) with its pool's gradient in the same function: the
// argmax is kept beside the pool and handed to the gradient.
// CHECK-LABEL: func.func @first_layer
// ALL-LABEL: func.func @first_layer
func.func @first_layer(%x: tensor<2x4x4x1xf32>, %w: tensor<3x3x1x8xf32>, %g: tensor<8xf32>,
                       %b: tensor<8xf32>, %dy: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) {
  %c = mtl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x4x4x1xf32>, tensor<3x3x1x8xf32>) -> tensor<2x4x4x8xf32>
  %s = mtl.batch_stats %c : (tensor<2x4x4x8xf32>) -> tensor<2x8xf32>
  %n = mtl.batch_norm_train %c, %s, %g, %b : (tensor<2x4x4x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x4x8xf32>
  %r = mtl.relu %n : (tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  // CHECK: mtl.max_pool %[[R:[0-9a-z]+]] {{.*}} -> tensor<2x2x2x8xf32>
  // CHECK-NEXT: %[[A:.*]] = mtl.max_pool_argmax %[[R]] {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xi8>
  %p = mtl.max_pool %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  // CHECK: mtl.max_pool_grad %{{.*}}, %[[R]], %[[A]] {kernel
  %d = mtl.max_pool_grad %dy, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %p, %d : tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// A pool over an activation that only the pool and its gradient read (a
// conv -> max_pool -> relu): the gradient reads the argmax instead.
// CHECK-LABEL: func.func @only_pooled
// ALL-LABEL: func.func @only_pooled
func.func @only_pooled(%x: tensor<2x4x4x8xf32>, %dy: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) {
  // CHECK: %[[A:.*]] = mtl.max_pool_argmax %arg0
  // ALL: %[[A:.*]] = mtl.max_pool_argmax %arg0
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  // CHECK: mtl.max_pool_grad %arg1, %arg0, %[[A]]
  // ALL: mtl.max_pool_grad %arg1, %arg0, %[[A]]
  %d = mtl.max_pool_grad %dy, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %p, %d : tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// A pool over a relu's output whose gradient reads it too (a stored layer
// after the first): the backward reads the activation anyway, nothing kept
// unless every argmax is.
// CHECK-LABEL: func.func @read_again
// ALL-LABEL: func.func @read_again
func.func @read_again(%z: tensor<2x4x4x8xf32>, %dy: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) {
  %x = mtl.relu %z : (tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  // CHECK-NOT: max_pool_argmax
  // ALL: %[[A:.*]] = mtl.max_pool_argmax
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  // ALL: mtl.max_pool_grad %arg1, %{{.*}}, %[[A]]
  %d = mtl.max_pool_grad %dy, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %r = mtl.relu_grad %d, %x : (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %p, %r : tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// A conv of more taps (3 x 3 over 2 channels) is not recomputed, and its
// relu's gradient reads the pooled activation: nothing kept.
// CHECK-LABEL: func.func @wide_conv
func.func @wide_conv(%x: tensor<2x4x4x2xf32>, %w: tensor<3x3x2x8xf32>, %g: tensor<8xf32>,
                     %b: tensor<8xf32>, %dy: tensor<2x2x2x8xf32>) -> tensor<2x4x4x8xf32> {
  %c = mtl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x4x4x2xf32>, tensor<3x3x2x8xf32>) -> tensor<2x4x4x8xf32>
  %s = mtl.batch_stats %c : (tensor<2x4x4x8xf32>) -> tensor<2x8xf32>
  %n = mtl.batch_norm_train %c, %s, %g, %b : (tensor<2x4x4x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x4x8xf32>
  %r = mtl.relu %n : (tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  // CHECK-NOT: max_pool_argmax
  %p = mtl.max_pool %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  %d = mtl.max_pool_grad %dy, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %e = mtl.relu_grad %d, %r : (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %e : tensor<2x4x4x8xf32>
}

// -----

// Two gradients of one pool (two tasks' losses): one argmax for both; a
// pool of other windows is not their forward. (Only pools read %x.)
// CHECK-LABEL: func.func @shared
// ALL-LABEL: func.func @shared
func.func @shared(%x: tensor<2x4x4x8xf32>, %dy: tensor<2x2x2x8xf32>, %dz: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x3x3x8xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) {
  // CHECK: mtl.max_pool %arg0 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
  // CHECK-NEXT: %[[A:.*]] = mtl.max_pool_argmax %arg0 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
  // CHECK-NOT: max_pool_argmax
  // CHECK: mtl.max_pool_grad %arg1, %arg0, %[[A]]
  // CHECK: mtl.max_pool_grad %arg2, %arg0, %[[A]]
  // ALL: mtl.max_pool %arg0 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
  // ALL-NEXT: %[[A:.*]] = mtl.max_pool_argmax %arg0 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
  // ALL-NOT: max_pool_argmax
  // ALL: mtl.max_pool_grad %arg1, %arg0, %[[A]]
  // ALL: mtl.max_pool_grad %arg2, %arg0, %[[A]]
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  %q = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<2x4x4x8xf32>) -> tensor<2x3x3x8xf32>
  %d = mtl.max_pool_grad %dy, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %e = mtl.max_pool_grad %dz, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %p, %q, %d, %e : tensor<2x2x2x8xf32>, tensor<2x3x3x8xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>
}
