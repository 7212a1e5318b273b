// RUN: mtl-opt %s -split-input-file -mtl-fuse-join=cost-model=false -verify-diagnostics | FileCheck %s

// The heads' input gradients meet at the backbone join: their sum is one
// product over the concatenated gradients and weights.
// CHECK-LABEL: func.func @dense_join
func.func @dense_join(%dy1: tensor<8x10xf32>, %w1: tensor<32x10xf32>, %dy2: tensor<8x4xf32>, %w2: tensor<32x4xf32>) -> tensor<8x32xf32> {
  %a = mtl.dense_backward_input %dy1, %w1 : (tensor<8x10xf32>, tensor<32x10xf32>) -> tensor<8x32xf32>
  %b = mtl.dense_backward_input %dy2, %w2 : (tensor<8x4xf32>, tensor<32x4xf32>) -> tensor<8x32xf32>
  // CHECK: %[[DY:.*]] = mtl.concat %{{.*}}, %{{.*}} : (tensor<8x10xf32>, tensor<8x4xf32>) -> tensor<8x14xf32>
  // CHECK: %[[W:.*]] = mtl.concat %{{.*}}, %{{.*}} : (tensor<32x10xf32>, tensor<32x4xf32>) -> tensor<32x14xf32>
  // CHECK: %[[DX:.*]] = mtl.dense_backward_input %[[DY]], %[[W]] {{.*}} -> tensor<8x32xf32>
  // CHECK-NOT: mtl.join
  // CHECK: return %[[DX]]
  // expected-remark @+1 {{fused the join of 2 task gradients into one 'dense_backward_input' product}}
  %j = mtl.join %a, %b : tensor<8x32xf32>
  return %j : tensor<8x32xf32>
}

// -----

// Three heads, two of them conv: the convs fuse, the dense one stays in
// the join.
// CHECK-LABEL: func.func @mixed_join
func.func @mixed_join(%dy1: tensor<2x4x4x3xf32>, %w1: tensor<3x3x8x3xf32>, %dy2: tensor<2x4x4x5xf32>, %w2: tensor<3x3x8x5xf32>, %g: tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32> {
  %a = mtl.conv2d_backward_input %dy1, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x4x4x3xf32>, tensor<3x3x8x3xf32>) -> tensor<2x4x4x8xf32>
  %b = mtl.conv2d_backward_input %dy2, %w2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x4x4x5xf32>, tensor<3x3x8x5xf32>) -> tensor<2x4x4x8xf32>
  // CHECK: %[[C:.*]] = mtl.conv2d_backward_input {{.*}} : (tensor<2x4x4x8xf32>, tensor<3x3x8x8xf32>) -> tensor<2x4x4x8xf32>
  // CHECK: mtl.join %{{.*}}, %[[C]] : tensor<2x4x4x8xf32>
  // expected-remark @+1 {{fused the join of 2 task gradients into one 'conv2d_backward_input' product}}
  %j = mtl.join %a, %g, %b : tensor<2x4x4x8xf32>
  return %j : tensor<2x4x4x8xf32>
}

// -----

// Must not apply: a product that has another user than the join (its
// per-task value is needed), and a join of one product.
// CHECK-LABEL: func.func @keep_join
func.func @keep_join(%dy1: tensor<8x10xf32>, %w1: tensor<32x10xf32>, %dy2: tensor<8x4xf32>, %w2: tensor<32x4xf32>) -> (tensor<8x32xf32>, tensor<8x32xf32>) {
  // CHECK-NOT: mtl.concat
  // CHECK: mtl.join
  %a = mtl.dense_backward_input %dy1, %w1 : (tensor<8x10xf32>, tensor<32x10xf32>) -> tensor<8x32xf32>
  %b = mtl.dense_backward_input %dy2, %w2 : (tensor<8x4xf32>, tensor<32x4xf32>) -> tensor<8x32xf32>
  %j = mtl.join %a, %b : tensor<8x32xf32>
  return %j, %a : tensor<8x32xf32>, tensor<8x32xf32>
}
