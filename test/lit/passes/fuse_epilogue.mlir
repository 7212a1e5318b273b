// RUN: mtl-opt %s -split-input-file -mtl-fuse-epilogue -verify-diagnostics | FileCheck %s

// A conv whose only user is a relu: the relu is marked as the conv's
// epilogue (codegen applies it to the conv's register tile; the relu's
// result stays materialized for relu_grad).
// CHECK-LABEL: func.func @conv_relu
func.func @conv_relu(%x: tensor<2x6x6x3xf32>, %w: tensor<3x3x3x8xf32>, %b: tensor<8xf32>) -> tensor<2x6x6x8xf32> {
  // CHECK: %[[C:.*]] = mtl.conv2d %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} :
  // CHECK: mtl.relu %[[C]] {mtl.fused_epilogue}
  %c = mtl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x3xf32>, tensor<3x3x3x8xf32>, tensor<8xf32>) -> tensor<2x6x6x8xf32>
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'conv2d'}}
  %r = mtl.relu %c : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x8xf32>
  return %r : tensor<2x6x6x8xf32>
}

// -----

// Chains fuse link by link; dense and conv_transpose2d are producers too.
// CHECK-LABEL: func.func @chains
func.func @chains(%x: tensor<8x32xf32>, %w: tensor<32x16xf32>, %i: tensor<2x4x4x8xf32>, %k: tensor<3x3x4x8xf32>) -> (tensor<8x16xf32>, tensor<2x8x8x4xf32>) {
  %d = mtl.dense %x, %w : (tensor<8x32xf32>, tensor<32x16xf32>) -> tensor<8x16xf32>
  // CHECK: mtl.tanh %{{.*}} {mtl.fused_epilogue}
  // CHECK: mtl.sigmoid %{{.*}} {mtl.fused_epilogue}
  // expected-remark @+1 {{fused 'tanh' into the epilogue of 'dense'}}
  %t = mtl.tanh %d : (tensor<8x16xf32>) -> tensor<8x16xf32>
  // expected-remark @+1 {{fused 'sigmoid' into the epilogue of 'dense'}}
  %s = mtl.sigmoid %t : (tensor<8x16xf32>) -> tensor<8x16xf32>
  // CHECK: mtl.leaky_relu %{{.*}} {alpha = 2.000000e-01 : f64, mtl.fused_epilogue}
  %u = mtl.conv_transpose2d %i, %k {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, output_padding = array<i64: 1, 1>} : (tensor<2x4x4x8xf32>, tensor<3x3x4x8xf32>) -> tensor<2x8x8x4xf32>
  // expected-remark @+1 {{fused 'leaky_relu' into the epilogue of 'conv_transpose2d'}}
  %l = mtl.leaky_relu %u {alpha = 0.2 : f64} : (tensor<2x8x8x4xf32>) -> tensor<2x8x8x4xf32>
  return %s, %l : tensor<8x16xf32>, tensor<2x8x8x4xf32>
}

// -----

// Batch-norm apply is a producer too: its per-element affine map and the
// relu after it are one pass (training form, after mtl-autodiff's
// expansion, and the inference form).
// CHECK-LABEL: func.func @batch_norm_relu
func.func @batch_norm_relu(%x: tensor<2x4x4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) {
  // CHECK: mtl.relu %{{.*}} {mtl.fused_epilogue}
  // CHECK: mtl.relu %{{.*}} {mtl.fused_epilogue}
  %s = mtl.batch_stats %x : (tensor<2x4x4x8xf32>) -> tensor<2x8xf32>
  %t = mtl.batch_norm_train %x, %s, %g, %b : (tensor<2x4x4x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x4x8xf32>
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'batch_norm_train'}}
  %rt = mtl.relu %t : (tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %e = mtl.batch_norm %x, %g, %b, %g, %g : (tensor<2x4x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x4x8xf32>
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'batch_norm'}}
  %re = mtl.relu %e : (tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %rt, %re : tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// A max pool is a producer: a LeNet's pool -> relu is one pass over the
// pooled values (multi_fashion.toml).
// CHECK-LABEL: func.func @max_pool_relu
func.func @max_pool_relu(%x: tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32> {
  // CHECK: %[[P:.*]] = mtl.max_pool
  // CHECK: mtl.relu %[[P]] {mtl.fused_epilogue}
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x8xf32>) -> tensor<2x2x2x8xf32>
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'max_pool'}}
  %r = mtl.relu %p : (tensor<2x2x2x8xf32>) -> tensor<2x2x2x8xf32>
  return %r : tensor<2x2x2x8xf32>
}

// -----

// Inference batch norm after a product is an epilogue of it (an eval or
// predict step: conv -> batch_norm -> relu in one pass). Its gamma, beta and
// running statistics are step arguments, ready wherever they are declared.
// CHECK-LABEL: func.func @conv_batch_norm_relu
func.func @conv_batch_norm_relu(%x: tensor<2x6x6x3xf32>, %w: tensor<3x3x3x8xf32>) -> tensor<2x6x6x8xf32> {
  // CHECK: mtl.batch_norm %{{.*}} {mtl.fused_epilogue}
  // CHECK: mtl.relu %{{.*}} {mtl.fused_epilogue}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x3xf32>, tensor<3x3x3x8xf32>) -> tensor<2x6x6x8xf32>
  %g = mtl.param "bn.gamma" : tensor<8xf32>
  %b = mtl.param "bn.beta" : tensor<8xf32>
  %m = mtl.state "bn.running_mean" : tensor<8xf32>
  %v = mtl.state "bn.running_var" : tensor<8xf32>
  // expected-remark @+1 {{fused 'batch_norm' into the epilogue of 'conv2d'}}
  %n = mtl.batch_norm %c, %g, %b, %m, %v : (tensor<2x6x6x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x6x6x8xf32>
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'batch_norm'}}
  %r = mtl.relu %n : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x8xf32>
  return %r : tensor<2x6x6x8xf32>
}

// -----

// In the backward, the relu_grad below a max_pool_grad shares its pass (the
// relu's output %y comes from the forward, before the producer). A relu_grad
// of anything else stays a separate pass.
// CHECK-LABEL: func.func @pool_grad_relu_grad
func.func @pool_grad_relu_grad(%dy: tensor<2x2x2x8xf32>, %y: tensor<2x4x4x8xf32>, %g: tensor<2x4x4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) {
  // CHECK: mtl.relu_grad %{{.*}}, %{{.*}} {mtl.fused_epilogue}
  // CHECK-NOT: fused_epilogue
  %p = mtl.max_pool_grad %dy, %y {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  // expected-remark @+1 {{fused 'relu_grad' into the epilogue of 'max_pool_grad'}}
  %r = mtl.relu_grad %p, %y : (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %s = mtl.relu_grad %g, %y : (tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  return %r, %s : tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>
}

// -----

// Must not apply: the conv's result has a second user (here the function's
// result; in a train step e.g. leaky_relu_grad, which reads the
// pre-activation), and an activation of something that is not a product.
// CHECK-LABEL: func.func @two_users
func.func @two_users(%x: tensor<2x6x6x3xf32>, %w: tensor<3x3x3x8xf32>, %y: tensor<2x6x6x8xf32>) -> (tensor<2x6x6x8xf32>, tensor<2x6x6x8xf32>, tensor<2x6x6x8xf32>) {
  // CHECK-NOT: fused_epilogue
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<2x6x6x3xf32>, tensor<3x3x3x8xf32>) -> tensor<2x6x6x8xf32>
  // expected-remark @+1 {{not fused: the 'conv2d' result it reads has other users}}
  %r = mtl.relu %c : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x8xf32>
  %s = mtl.relu %y : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x8xf32>
  return %r, %c, %s : tensor<2x6x6x8xf32>, tensor<2x6x6x8xf32>, tensor<2x6x6x8xf32>
}

// -----

// After mtl-fuse-heads: both slices of one wide dense feed a relu. The relu
// is applied once to the wide product (then fused into it), the slices read
// its result.
// CHECK-LABEL: func.func @fused_heads
func.func @fused_heads(%x: tensor<8x32xf32>, %w: tensor<32x14xf32>) -> (tensor<8x10xf32>, tensor<8x4xf32>) {
  // CHECK: %[[D:.*]] = mtl.dense
  // CHECK: %[[R:.*]] = mtl.relu %[[D]] {mtl.fused_epilogue} : (tensor<8x14xf32>) -> tensor<8x14xf32>
  // CHECK: mtl.slice_channels %[[R]] {offset = 0 : i64}
  // CHECK: mtl.slice_channels %[[R]] {offset = 10 : i64}
  // CHECK-NOT: mtl.relu
  %d = mtl.dense %x, %w : (tensor<8x32xf32>, tensor<32x14xf32>) -> tensor<8x14xf32>
  %a = mtl.slice_channels %d {offset = 0 : i64} : (tensor<8x14xf32>) -> tensor<8x10xf32>
  %b = mtl.slice_channels %d {offset = 10 : i64} : (tensor<8x14xf32>) -> tensor<8x4xf32>
  // The wide relu takes the first head's location.
  // expected-remark @+2 {{applied the heads' 'relu' once to the fused product, before its 2 slices}}
  // expected-remark @+1 {{fused 'relu' into the epilogue of 'dense'}}
  %ra = mtl.relu %a : (tensor<8x10xf32>) -> tensor<8x10xf32>
  %rb = mtl.relu %b : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %ra, %rb : tensor<8x10xf32>, tensor<8x4xf32>
}

// -----

// Must not apply the hoist: the heads use different activations.
// CHECK-LABEL: func.func @mixed_heads
func.func @mixed_heads(%x: tensor<8x32xf32>, %w: tensor<32x14xf32>) -> (tensor<8x10xf32>, tensor<8x4xf32>) {
  // CHECK-NOT: fused_epilogue
  // CHECK: mtl.relu %{{.*}} : (tensor<8x10xf32>)
  // CHECK: mtl.tanh %{{.*}} : (tensor<8x4xf32>)
  %d = mtl.dense %x, %w : (tensor<8x32xf32>, tensor<32x14xf32>) -> tensor<8x14xf32>
  %a = mtl.slice_channels %d {offset = 0 : i64} : (tensor<8x14xf32>) -> tensor<8x10xf32>
  %b = mtl.slice_channels %d {offset = 10 : i64} : (tensor<8x14xf32>) -> tensor<8x4xf32>
  %ra = mtl.relu %a : (tensor<8x10xf32>) -> tensor<8x10xf32>
  %rb = mtl.tanh %b : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %ra, %rb : tensor<8x10xf32>, tensor<8x4xf32>
}
