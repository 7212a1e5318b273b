// RUN: mtl-opt %s -split-input-file -verify-diagnostics

func.func @conv_channels(%x: tensor<2x6x6x3xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{conv2d filter has 1 input channels but the input [2, 6, 6, 3] has 3}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<2x6x6x3xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @conv_result(%x: tensor<2x6x6x1xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{result type 'tensor<2x6x6x4xf32>' does not match the inferred type 'tensor<2x4x4x4xf32>'}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<2x6x6x1xf32>, tensor<3x3x1x4xf32>) -> tensor<2x6x6x4xf32>
  return
}

// -----

func.func @conv_stride(%x: tensor<2x6x6x1xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{stride must be >= 1, got [0, 1]}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 0, 1>, padding = array<i64: 0, 0>} : (tensor<2x6x6x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @conv_too_small(%x: tensor<2x2x2x1xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{conv2d kernel 3x3 does not fit the padded input 2x2}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<2x2x2x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dense_rank(%x: tensor<2x3x3x4xf32>, %w: tensor<36x3xf32>) {
  // expected-error @+1 {{dense expects an input [batch, features] of rank 2, got [2, 3, 3, 4]; add a 'flatten' layer before it}}
  %d = mtl.dense %x, %w : (tensor<2x3x3x4xf32>, tensor<36x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dense_weight(%x: tensor<2x36xf32>, %w: tensor<35x3xf32>) {
  // expected-error @+1 {{dense weight must be [36, units], got [35, 3]}}
  %d = mtl.dense %x, %w : (tensor<2x36xf32>, tensor<35x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @pool_big(%x: tensor<2x1x1x4xf32>) {
  // expected-error @+1 {{max_pool kernel 2x2 is larger than its input 1x1}}
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x1x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @pool_argmax_type(%x: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{result #0 must be tensor of 8-bit signless integer values, but got 'tensor<2x2x2x4xf32>'}}
  %a = "mtl.max_pool_argmax"(%x) {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>) -> tensor<2x2x2x4xf32>
  return
}

// -----

func.func @pool_argmax_big(%x: tensor<2x1x1x4xf32>) {
  // expected-error @+1 {{max_pool_argmax kernel 2x2 is larger than its input 1x1}}
  %a = mtl.max_pool_argmax %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x1x1x4xf32>) -> tensor<*xi8>
  return
}

// -----

func.func @pool_argmax_window_too_big(%x: tensor<2x12x12x4xf32>) {
  // expected-error @+1 {{max_pool_argmax windows of 144 elements do not fit its i8 result (at most 127)}}
  %a = mtl.max_pool_argmax %x {kernel = array<i64: 12, 12>, stride = array<i64: 12, 12>} : (tensor<2x12x12x4xf32>) -> tensor<*xi8>
  return
}

// -----

func.func @pool_grad_argmax_shape(%dy: tensor<2x2x2x4xf32>, %x: tensor<2x4x4x4xf32>, %a: tensor<2x2x2x3xi8>) {
  // expected-error @+1 {{argmax must have the pooled shape of grad_output}}
  %d = mtl.max_pool_grad %dy, %x, %a {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x2x2x4xf32>, tensor<2x4x4x4xf32>, tensor<2x2x2x3xi8>) -> tensor<2x4x4x4xf32>
  return
}

// -----

func.func @pool_padding_too_big(%x: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{max_pool padding must be smaller than the kernel}}
  %p = mtl.max_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 2, 0>} : (tensor<2x4x4x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @avg_pool_padding_negative(%x: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{padding must be >= 0, got [-1, 0]}}
  %p = mtl.avg_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: -1, 0>} : (tensor<2x4x4x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @ce_target(%l: tensor<4x10xf32>, %t: tensor<3xi32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{softmax_cross_entropy expects class ids [4], got [3]}}
  %x = mtl.softmax_cross_entropy %l, %t, %m : (tensor<4x10xf32>, tensor<3xi32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @mse_shape(%p: tensor<4x10xf32>, %t: tensor<4x9xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{mse expects a target shaped like the prediction [4, 10], got [4, 9]}}
  %x = mtl.mse %p, %t, %m : (tensor<4x10xf32>, tensor<4x9xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @mask_shape(%p: tensor<4x10xf32>, %t: tensor<4x10xf32>, %m: tensor<5xf32>) {
  // expected-error @+1 {{loss mask must be [4], got [5]}}
  %x = mtl.mse %p, %t, %m : (tensor<4x10xf32>, tensor<4x10xf32>, tensor<5xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @param_init() {
  // expected-error @+1 {{unknown init 'random'}}
  %w = mtl.param "w" {init = "random"} : tensor<3xf32>
  return
}

// -----

// Explicit values (a spec's bias_init): one, or one per element.
func.func @param_init_values() {
  %a = mtl.param "a" {init = "values:0.5"} : tensor<3xf32>
  %b = mtl.param "b" {init = "values:-1.6,0,1.6"} : tensor<3xf32>
  // expected-error @+1 {{init has 2 values for 3 elements}}
  %c = mtl.param "c" {init = "values:1,2"} : tensor<3xf32>
  return
}

// -----

func.func @param_init_malformed() {
  // expected-error @+1 {{malformed init value 'x'}}
  %w = mtl.param "w" {init = "values:1,x,3"} : tensor<3xf32>
  return
}

// -----

func.func @task_weight(%l: tensor<f32>, %p: tensor<4x3xf32>) {
  // expected-error @+1 {{task 't' weight must be > 0, got -1}}
  mtl.task "t" loss(%l : tensor<f32>) prediction(%p : tensor<4x3xf32>) {weight = -1.0 : f64}
  return
}

// -----

func.func @reshape_count(%x: tensor<4x10xf32>) {
  // expected-error @+1 {{cannot reshape}}
  %y = mtl.reshape %x : (tensor<4x10xf32>) -> tensor<4x3x3xf32>
  return
}

// -----

func.func @conv_bwd_input(%dy: tensor<2x4x4x4xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{result spatial size does not map to grad_output}}
  %dx = mtl.conv2d_backward_input %dy, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : (tensor<2x4x4x4xf32>, tensor<3x3x1x4xf32>) -> tensor<2x7x7x1xf32>
  return
}

// -----

func.func @dense_bwd_weight(%x: tensor<2x36xf32>, %dy: tensor<2x3xf32>) {
  // expected-error @+1 {{expects x [N, K], dy [N, M] and result [K, M]}}
  %dw = mtl.dense_backward_weight %x, %dy : (tensor<2x36xf32>, tensor<2x3xf32>) -> tensor<3x36xf32>
  return
}

// -----

func.func @bias_grad(%dy: tensor<2x3xf32>) {
  // expected-error @+1 {{result must be [3]}}
  %db = mtl.bias_grad %dy : (tensor<2x3xf32>) -> tensor<4xf32>
  return
}
