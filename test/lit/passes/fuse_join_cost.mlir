// RUN: mtl-opt %s -split-input-file -mtl-fuse-join -verify-diagnostics | FileCheck %s

// The cost model (on by default). Thin conv heads: the two input-gradient
// products write 2 x 262 KB that the join reads back; concatenating the
// output gradients and filters copies 75 KB: fused.
// CHECK-LABEL: func.func @thin_conv_join
func.func @thin_conv_join(%dy1: tensor<8x16x16x4xf32>, %dy2: tensor<8x16x16x4xf32>, %w1: tensor<3x3x32x4xf32>, %w2: tensor<3x3x32x4xf32>) -> tensor<8x16x16x32xf32> {
  // CHECK: mtl.conv2d_backward_input {{.*}} -> tensor<8x16x16x32xf32>
  // CHECK-NOT: mtl.join
  %a = mtl.conv2d_backward_input %dy1, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<8x16x16x4xf32>, tensor<3x3x32x4xf32>) -> tensor<8x16x16x32xf32>
  %b = mtl.conv2d_backward_input %dy2, %w2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<8x16x16x4xf32>, tensor<3x3x32x4xf32>) -> tensor<8x16x16x32xf32>
  // expected-remark @+1 {{fused the join of 2 task gradients}}
  %j = mtl.join %a, %b : tensor<8x16x16x32xf32>
  return %j : tensor<8x16x16x32xf32>
}

// -----

// Dense heads with large weights: the join stays T products and a sum.
// CHECK-LABEL: func.func @wide_dense_join
func.func @wide_dense_join(%dy1: tensor<8x10xf32>, %dy2: tensor<8x4xf32>, %w1: tensor<32x10xf32>, %w2: tensor<32x4xf32>) -> tensor<8x32xf32> {
  // CHECK-NOT: mtl.concat
  // CHECK: mtl.join
  %a = mtl.dense_backward_input %dy1, %w1 : (tensor<8x10xf32>, tensor<32x10xf32>) -> tensor<8x32xf32>
  %b = mtl.dense_backward_input %dy2, %w2 : (tensor<8x4xf32>, tensor<32x4xf32>) -> tensor<8x32xf32>
  // expected-remark @+1 {{join of 2 task gradients not fused: concatenating their operands would copy 2.2 KB to save 2.0 KB of gradient traffic (cost model; --fuse-always overrides)}}
  %j = mtl.join %a, %b : tensor<8x32xf32>
  return %j : tensor<8x32xf32>
}
