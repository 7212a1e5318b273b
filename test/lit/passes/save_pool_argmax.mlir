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

// A pool over a stored activation (here a function argument): its gradient
// finds the maxima in it, unless every argmax is kept.
// CHECK-LABEL: func.func @stored_input
// ALL-LABEL: func.func @stored_input
func.func @stored_input(%x: tensor<2x4x4x8xf32>, %dy: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) {
  // CHECK-NOT: max_pool_argmax
  // ALL: %[[A:.*]] = mtl.max_pool_argmax %arg0
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  // ALL: mtl.max_pool_grad %arg1, %arg0, %[[A]]
  %d = mtl.max_pool_grad %dy, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %p, %d : tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// A conv of more taps (3 x 3 over 2 channels) is stored: nothing kept.
// CHECK-LABEL: func.func @wide_conv
func.func @wide_conv(%x: tensor<2x4x4x2xf32>, %w: tensor<3x3x2x8xf32>, %g: tensor<8xf32>,
                     %b: tensor<8xf32>, %dy: tensor<2x2x2x8xf32>) -> tensor<2x4x4x8xf32> {
  %c = mtl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x4x4x2xf32>, tensor<3x3x2x8xf32>) -> tensor<2x4x4x8xf32>
  %s = mtl.batch_stats %c : (tensor<2x4x4x8xf32>) -> tensor<2x8xf32>
  %n = mtl.batch_norm_train %c, %s, %g, %b : (tensor<2x4x4x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x4x8xf32>
  // CHECK-NOT: max_pool_argmax
  %p = mtl.max_pool %n {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  %d = mtl.max_pool_grad %dy, %n {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %d : tensor<2x4x4x8xf32>
}

// -----

// Two gradients of one pool (two tasks' losses): one argmax for both; a
// pool of other windows is not their forward.
// CHECK-LABEL: func.func @shared
// ALL-LABEL: func.func @shared
func.func @shared(%x: tensor<2x4x4x8xf32>, %dy: tensor<2x2x2x8xf32>, %dz: tensor<2x2x2x8xf32>) -> (tensor<2x2x2x8xf32>, tensor<2x3x3x8xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) {
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
