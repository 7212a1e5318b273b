// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// Round trip of the loss ops of ir/LossOps.td and their gradient ops.

// CHECK-LABEL: func.func @losses
func.func @losses(%p: tensor<4x3xf32>, %t: tensor<4x3xf32>, %m: tensor<4xf32>,
                  %b: tensor<4x4xf32>, %bt: tensor<4x4xf32>, %l: tensor<4x5xf32>,
                  %c: tensor<4xi32>) {
  // CHECK: mtl.sigmoid_cross_entropy %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<f32>
  %0 = mtl.sigmoid_cross_entropy %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.l1
  %1 = mtl.l1 %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<*xf32>
  // CHECK: mtl.smooth_l1 %{{.*}} {beta = 5.000000e-01 : f64}
  %2 = mtl.smooth_l1 %p, %t, %m {beta = 0.5 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.iou_loss
  %3 = mtl.iou_loss %b, %bt, %m : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.giou_loss
  %4 = mtl.giou_loss %b, %bt, %m : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.kl_divergence
  %5 = mtl.kl_divergence %p, %t, %m : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.softmax_cross_entropy %{{.*}} {label_smoothing = 1.000000e-01 : f64}
  %6 = mtl.softmax_cross_entropy %l, %c, %m {label_smoothing = 0.1 : f64} : (tensor<4x5xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: mtl.sigmoid_cross_entropy_grad %{{.*}} {scale = 1.500000e+00 : f64}
  %g0 = mtl.sigmoid_cross_entropy_grad %p, %t, %m {scale = 1.5 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  // CHECK: mtl.l1_grad
  %g1 = mtl.l1_grad %p, %t, %m {scale = 1.0 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  // CHECK: mtl.smooth_l1_grad
  %g2 = mtl.smooth_l1_grad %p, %t, %m {scale = 1.0 : f64, beta = 0.5 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  // CHECK: mtl.iou_loss_grad
  %g3 = mtl.iou_loss_grad %b, %bt, %m {scale = 1.0 : f64} : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  // CHECK: mtl.giou_loss_grad
  %g4 = mtl.giou_loss_grad %b, %bt, %m {scale = 1.0 : f64} : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  // CHECK: mtl.kl_divergence_mean_grad
  %g5 = mtl.kl_divergence_mean_grad %p, %t, %m {scale = 1.0 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  // CHECK: mtl.kl_divergence_logvar_grad
  %g6 = mtl.kl_divergence_logvar_grad %p, %t, %m {scale = 1.0 : f64} : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  // CHECK: mtl.softmax_cross_entropy_grad %{{.*}} {label_smoothing = 1.000000e-01 : f64, scale = 1.000000e+00 : f64}
  %g7 = mtl.softmax_cross_entropy_grad %l, %c, %m {scale = 1.0 : f64, label_smoothing = 0.1 : f64} : (tensor<4x5xf32>, tensor<4xi32>, tensor<4xf32>) -> tensor<4x5xf32>
  return
}
