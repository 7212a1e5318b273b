// RUN: mtl-opt %s -split-input-file -mtl-fuse-heads=cost-model=false -verify-diagnostics | FileCheck %s

// Two dense heads read the same backbone tensor: one GEMM of width 10 + 4
// over concatenated weights and biases, sliced back per head.
// CHECK-LABEL: func.func @dense_heads
func.func @dense_heads(%f: tensor<8x32xf32>) -> (tensor<8x10xf32>, tensor<8x4xf32>) {
  %w1 = mtl.param "a.weight" : tensor<32x10xf32>
  %b1 = mtl.param "a.bias" {init = "zeros"} : tensor<10xf32>
  // CHECK: %[[W:.*]] = mtl.concat %{{.*}}, %{{.*}} : (tensor<32x10xf32>, tensor<32x4xf32>) -> tensor<32x14xf32>
  // CHECK: %[[B:.*]] = mtl.concat %{{.*}}, %{{.*}} : (tensor<10xf32>, tensor<4xf32>) -> tensor<14xf32>
  // CHECK: %[[H:.*]] = mtl.dense %{{.*}}, %[[W]], %[[B]] : {{.*}} -> tensor<8x14xf32>
  // CHECK: mtl.slice_channels %[[H]] {offset = 0 : i64} {{.*}} -> tensor<8x10xf32>
  // CHECK: mtl.slice_channels %[[H]] {offset = 10 : i64} {{.*}} -> tensor<8x4xf32>
  // CHECK-NOT: mtl.dense
  // expected-remark @+1 {{fused 2 'dense' products that share an operand into one of width 14}}
  %h1 = mtl.dense %f, %w1, %b1 : (tensor<8x32xf32>, tensor<32x10xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  %w2 = mtl.param "b.weight" : tensor<32x4xf32>
  %b2 = mtl.param "b.bias" {init = "zeros"} : tensor<4xf32>
  %h2 = mtl.dense %f, %w2, %b2 : (tensor<8x32xf32>, tensor<32x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  return %h1, %h2 : tensor<8x10xf32>, tensor<8x4xf32>
}

// -----

// In the train step the heads' weight gradients share the backbone tensor
// too: one dense_backward_weight over the concatenated output gradients.
// CHECK-LABEL: func.func @weight_grads
func.func @weight_grads(%f: tensor<8x32xf32>, %dy1: tensor<8x10xf32>, %dy2: tensor<8x4xf32>) -> (tensor<32x10xf32>, tensor<32x4xf32>) {
  // CHECK: %[[DY:.*]] = mtl.concat %{{.*}}, %{{.*}} : (tensor<8x10xf32>, tensor<8x4xf32>) -> tensor<8x14xf32>
  // CHECK: %[[DW:.*]] = mtl.dense_backward_weight %{{.*}}, %[[DY]] {{.*}} -> tensor<32x14xf32>
  // CHECK: mtl.slice_channels %[[DW]] {offset = 0 : i64}
  // CHECK: mtl.slice_channels %[[DW]] {offset = 10 : i64}
  // expected-remark @+1 {{fused 2 'dense_backward_weight' products}}
  %g1 = mtl.dense_backward_weight %f, %dy1 : (tensor<8x32xf32>, tensor<8x10xf32>) -> tensor<32x10xf32>
  %g2 = mtl.dense_backward_weight %f, %dy2 : (tensor<8x32xf32>, tensor<8x4xf32>) -> tensor<32x4xf32>
  return %g1, %g2 : tensor<32x10xf32>, tensor<32x4xf32>
}

// -----

// Conv heads with the same geometry fuse along the output channels.
// CHECK-LABEL: func.func @conv_heads
func.func @conv_heads(%x: tensor<2x6x6x8xf32>, %w1: tensor<3x3x8x4xf32>, %w2: tensor<3x3x8x2xf32>) -> (tensor<2x6x6x4xf32>, tensor<2x6x6x2xf32>) {
  // CHECK: mtl.concat {{.*}} -> tensor<3x3x8x6xf32>
  // CHECK: mtl.conv2d {{.*}} -> tensor<2x6x6x6xf32>
  // expected-remark @+1 {{fused 2 'conv2d' products}}
  %y1 = mtl.conv2d %x, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x8xf32>, tensor<3x3x8x4xf32>) -> tensor<2x6x6x4xf32>
  %y2 = mtl.conv2d %x, %w2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x8xf32>, tensor<3x3x8x2xf32>) -> tensor<2x6x6x2xf32>
  return %y1, %y2 : tensor<2x6x6x4xf32>, tensor<2x6x6x2xf32>
}

// -----

// Must not apply: heads reading different tensors, and convs of different
// geometry (stride) over the same tensor.
// CHECK-LABEL: func.func @no_fusion
func.func @no_fusion(%f: tensor<8x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<32x10xf32>, %w2: tensor<32x4xf32>, %x: tensor<2x6x6x8xf32>, %k: tensor<3x3x8x4xf32>) -> (tensor<8x10xf32>, tensor<8x4xf32>, tensor<2x6x6x4xf32>, tensor<2x3x3x4xf32>) {
  // CHECK-NOT: mtl.concat
  // CHECK-NOT: mtl.slice_channels
  %h1 = mtl.dense %f, %w1 : (tensor<8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  %h2 = mtl.dense %g, %w2 : (tensor<8x32xf32>, tensor<32x4xf32>) -> tensor<8x4xf32>
  %y1 = mtl.conv2d %x, %k {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x8xf32>, tensor<3x3x8x4xf32>) -> tensor<2x6x6x4xf32>
  %y2 = mtl.conv2d %x, %k {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<2x6x6x8xf32>, tensor<3x3x8x4xf32>) -> tensor<2x3x3x4xf32>
  return %h1, %h2, %y1, %y2 : tensor<8x10xf32>, tensor<8x4xf32>, tensor<2x6x6x4xf32>, tensor<2x3x3x4xf32>
}
