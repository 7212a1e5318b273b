// RUN: mtl-opt %s -split-input-file -verify-diagnostics
// Verifier and shape-rule errors of the losses of ir/LossOps.td.

func.func @bce_shape(%p: tensor<4x3xf32>, %t: tensor<4x2xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{sigmoid_cross_entropy expects a target shaped like the prediction [4, 3], got [4, 2]}}
  %0 = mtl.sigmoid_cross_entropy %p, %t, %m : (tensor<4x3xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @l1_mask(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<3xf32>) {
  // expected-error @+1 {{loss mask must be [4], got [3]}}
  %0 = mtl.l1 %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @l1_result(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{result type 'tensor<4xf32>' does not match the inferred type 'tensor<f32>'}}
  %0 = mtl.l1 %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @smooth_l1_beta(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{smooth_l1 beta must be >= 0, got -1}}
  %0 = mtl.smooth_l1 %p, %t, %m {beta = -1.0 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @iou_not_boxes(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{iou_loss expects predicted boxes [batch, 4] (x0, y0, x1, y1), got [4, 3]; end the head with a dense layer of 4 units}}
  %0 = mtl.iou_loss %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @giou_target(%p: tensor<4x4xf32>, %t: tensor<2x4xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{giou_loss expects target boxes [4, 4], got [2, 4]}}
  %0 = mtl.giou_loss %p, %t, %m : (tensor<4x4xf32>, tensor<2x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @kl_rank(%mu: tensor<4x2x2xf32>, %lv: tensor<4x2x2xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{kl_divergence expects a mean [batch, latent], got [4, 2, 2]}}
  %0 = mtl.kl_divergence %mu, %lv, %m : (tensor<4x2x2xf32>, tensor<4x2x2xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @kl_logvar(%mu: tensor<4x8xf32>, %lv: tensor<4x4xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{kl_divergence expects a logvar shaped like the mean [4, 8], got [4, 4]}}
  %0 = mtl.kl_divergence %mu, %lv, %m : (tensor<4x8xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @grad_type(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{prediction, target and result must agree}}
  %0 = mtl.l1_grad %p, %t, %m {scale = 1.0 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  return
}
