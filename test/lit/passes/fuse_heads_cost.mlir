// RUN: mtl-opt %s -split-input-file -mtl-fuse-heads -verify-diagnostics | FileCheck %s

// The cost model (on by default). Conv heads with few output channels on a
// wide feature map: reading the 32-channel map once instead of twice saves
// 262 KB; the concatenated filters and the sliced results copy 150 KB:
// fused.
// CHECK-LABEL: func.func @thin_conv_heads
func.func @thin_conv_heads(%x: tensor<8x16x16x32xf32>, %w1: tensor<3x3x32x4xf32>, %w2: tensor<3x3x32x4xf32>) -> (tensor<8x16x16x4xf32>, tensor<8x16x16x4xf32>) {
  // CHECK: mtl.concat {{.*}} -> tensor<3x3x32x8xf32>
  // CHECK: mtl.conv2d {{.*}} -> tensor<8x16x16x8xf32>
  // expected-remark @+1 {{fused 2 'conv2d' products}}
  %y1 = mtl.conv2d %x, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<8x16x16x32xf32>, tensor<3x3x32x4xf32>) -> tensor<8x16x16x4xf32>
  %y2 = mtl.conv2d %x, %w2 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<8x16x16x32xf32>, tensor<3x3x32x4xf32>) -> tensor<8x16x16x4xf32>
  return %y1, %y2 : tensor<8x16x16x4xf32>, tensor<8x16x16x4xf32>
}

// -----

// Dense heads whose weights are larger than the batch of features they
// read (fashion_detect's heads: 25.8 MB of weights, 1.6 MB of features):
// concatenating the weights on every call costs more than it saves. Left
// unfused, with the reason.
// CHECK-LABEL: func.func @wide_dense_heads
func.func @wide_dense_heads(%f: tensor<8x32xf32>, %w1: tensor<32x10xf32>, %w2: tensor<32x4xf32>) -> (tensor<8x10xf32>, tensor<8x4xf32>) {
  // CHECK-NOT: mtl.concat
  // CHECK-NOT: mtl.slice_channels
  // expected-remark @+1 {{not fused: the 2 'dense' products sharing this operand would copy 4.5 KB (concatenated operands, sliced results) to save 1.0 KB of reads (cost model; --fuse-always overrides)}}
  %h1 = mtl.dense %f, %w1 : (tensor<8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  %h2 = mtl.dense %f, %w2 : (tensor<8x32xf32>, tensor<32x4xf32>) -> tensor<8x4xf32>
  return %h1, %h2 : tensor<8x10xf32>, tensor<8x4xf32>
}
