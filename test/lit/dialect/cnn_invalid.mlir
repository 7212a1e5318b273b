// RUN: mtl-opt %s -split-input-file -verify-diagnostics

func.func @groups_channels(%x: tensor<2x6x6x4xf32>, %w: tensor<3x3x3x6xf32>) {
  // expected-error @+1 {{conv2d filter has 3 input channels per group but the input [2, 6, 6, 4] has 2 (2 groups)}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<3x3x3x6xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @groups_filters(%x: tensor<2x6x6x4xf32>, %w: tensor<3x3x2x5xf32>) {
  // expected-error @+1 {{conv2d groups = 2 must divide the input channels (4) and the filters (5)}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<3x3x2x5xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dilated_too_big(%x: tensor<2x4x4x1xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{conv2d kernel 5x5 (dilated) does not fit the padded input 4x4}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 2, 2>} : (tensor<2x4x4x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dilation_zero(%x: tensor<2x4x4x1xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error @+1 {{dilation must be >= 1, got [0, 1]}}
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 0, 1>} : (tensor<2x4x4x1xf32>, tensor<3x3x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @transpose_channels(%x: tensor<2x3x3x4xf32>, %w: tensor<3x3x2x3xf32>) {
  // expected-error @+1 {{conv_transpose2d filter has 3 input channels but the input [2, 3, 3, 4] has 4}}
  %c = mtl.conv_transpose2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : (tensor<2x3x3x4xf32>, tensor<3x3x2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @transpose_output_padding(%x: tensor<2x3x3x4xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{conv_transpose2d output_padding must be smaller than the stride, got output_padding [2, 0] with stride [2, 2]}}
  %c = mtl.conv_transpose2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, output_padding = array<i64: 2, 0>} : (tensor<2x3x3x4xf32>, tensor<3x3x2x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @transpose_result(%x: tensor<2x3x3x4xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{result type 'tensor<2x6x6x2xf32>' does not match the inferred type 'tensor<2x7x7x2xf32>'}}
  %c = mtl.conv_transpose2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : (tensor<2x3x3x4xf32>, tensor<3x3x2x4xf32>) -> tensor<2x6x6x2xf32>
  return
}

// -----

func.func @avg_pool_big(%x: tensor<2x1x1x4xf32>) {
  // expected-error @+1 {{avg_pool kernel 2x2 is larger than its input 1x1}}
  %p = mtl.avg_pool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x1x1x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @gap_rank(%x: tensor<2x16xf32>) {
  // expected-error @+1 {{global_avg_pool expects an NHWC input of rank 4, got [2, 16]; it cannot follow a flatten or dense layer}}
  %p = mtl.global_avg_pool %x : (tensor<2x16xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @upsample_mode(%x: tensor<2x3x3x4xf32>) {
  // expected-error @+1 {{upsample mode must be 'nearest' or 'bilinear', got 'bicubic'}}
  %p = mtl.upsample %x {scale = array<i64: 2, 2>, mode = "bicubic"} : (tensor<2x3x3x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @upsample_result(%x: tensor<2x3x3x4xf32>) {
  // expected-error @+1 {{result type 'tensor<2x6x6x4xf32>' does not match the inferred type 'tensor<2x6x9x4xf32>'}}
  %p = mtl.upsample %x {scale = array<i64: 2, 3>} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  return
}

// -----

func.func @concat_mismatch(%a: tensor<2x3x3x4xf32>, %b: tensor<2x4x3x4xf32>) {
  // expected-error @+1 {{concat inputs must agree in every dimension but the last (channels): input 0 is [2, 3, 3, 4], input 1 is [2, 4, 3, 4]}}
  %c = mtl.concat %a, %b : (tensor<2x3x3x4xf32>, tensor<2x4x3x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @concat_one(%a: tensor<2x3x3x4xf32>) {
  // expected-error @+1 {{concat needs at least 2 inputs, got 1}}
  %c = mtl.concat %a : (tensor<2x3x3x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @add_mismatch(%a: tensor<2x8xf32>, %b: tensor<2x9xf32>) {
  // expected-error @+1 {{add inputs must have the same shape: input 0 is [2, 8], input 1 is [2, 9]}}
  %c = mtl.add %a, %b : (tensor<2x8xf32>, tensor<2x9xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @layer_norm_gamma(%x: tensor<2x8xf32>, %g: tensor<7xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{layer_norm gamma must be [8], got [7]}}
  %c = mtl.layer_norm %x, %g, %b : (tensor<2x8xf32>, tensor<7xf32>, tensor<8xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @leaky_alpha(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{leaky_relu alpha must be >= 0, got -1}}
  %c = mtl.leaky_relu %x {alpha = -1.0} : (tensor<2x8xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @softmax_rank(%x: tensor<8xf32>) {
  // expected-error @+1 {{softmax expects an input [batch, ..., classes] of rank >= 2, got [8]}}
  %c = mtl.softmax %x : (tensor<8xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @slice_range(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{channels [6, 9) are out of the input's 8}}
  %c = mtl.slice_channels %x {offset = 6} : (tensor<2x8xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @sigmoid_grad_types(%dy: tensor<2x8xf32>, %y: tensor<2x9xf32>) {
  // expected-error @+1 {{grad_output, output and result must have the same type}}
  %c = mtl.sigmoid_grad %dy, %y : (tensor<2x8xf32>, tensor<2x9xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @backward_input_groups(%dy: tensor<2x6x6x4xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error @+1 {{batch or channel sizes disagree}}
  %c = mtl.conv2d_backward_input %dy, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<3x3x2x4xf32>) -> tensor<2x6x6x2xf32>
  return
}
