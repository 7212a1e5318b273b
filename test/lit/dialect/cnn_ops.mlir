// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// Round trip of the CNN ops (ir/CnnOps.td) and conv2d's dilation / groups.

// CHECK-LABEL: func.func @cnn
func.func @cnn(%x: tensor<2x6x6x4xf32>, %w: tensor<3x3x2x4xf32>, %wt: tensor<3x3x5x4xf32>,
               %b5: tensor<5xf32>, %g: tensor<4xf32>, %r: tensor<2x8xf32>) {
  // CHECK: mtl.conv2d %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<2x6x6x4xf32>, tensor<3x3x2x4xf32>) -> tensor<2x6x6x4xf32>
  %c = mtl.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 2, 2>, dilation = array<i64: 2, 2>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<3x3x2x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.conv_transpose2d %{{.*}}, %{{.*}}, %{{.*}} {output_padding = array<i64: 1, 1>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : {{.*}} -> tensor<2x12x12x5xf32>
  %t = mtl.conv_transpose2d %c, %wt, %b5 {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, output_padding = array<i64: 1, 1>} : (tensor<2x6x6x4xf32>, tensor<3x3x5x4xf32>, tensor<5xf32>) -> tensor<2x12x12x5xf32>
  // CHECK: mtl.leaky_relu %{{.*}} {alpha = 2.000000e-01 : f64}
  %l = mtl.leaky_relu %c {alpha = 0.2} : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.sigmoid
  %s = mtl.sigmoid %l : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.tanh
  %th = mtl.tanh %s : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.gelu
  %ge = mtl.gelu %th : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.softmax
  %sm = mtl.softmax %ge : (tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {eps = 1.000000e-03 : f64}
  %ln = mtl.layer_norm %sm, %g, %g {eps = 1.0e-3} : (tensor<2x6x6x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.avg_pool %{{.*}} {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xf32>
  %ap = mtl.avg_pool %ln {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xf32>
  // CHECK: mtl.upsample %{{.*}} {mode = "bilinear", scale = array<i64: 2, 2>} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  %up = mtl.upsample %ap {scale = array<i64: 2, 2>, mode = "bilinear"} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.upsample %{{.*}} {scale = array<i64: 2, 2>} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  %un = mtl.upsample %ap {scale = array<i64: 2, 2>} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.add %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  %ad = mtl.add %up, %un, %x : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.concat %{{.*}}, %{{.*}} : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x8xf32>
  %cc = mtl.concat %ad, %x : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x8xf32>
  // CHECK: mtl.global_avg_pool %{{.*}} : (tensor<2x6x6x8xf32>) -> tensor<2x8xf32>
  %gp = mtl.global_avg_pool %cc : (tensor<2x6x6x8xf32>) -> tensor<2x8xf32>
  // CHECK: mtl.slice_channels %{{.*}} {offset = 4 : i64} : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x3xf32>
  %sl = mtl.slice_channels %cc {offset = 4} : (tensor<2x6x6x8xf32>) -> tensor<2x6x6x3xf32>
  // CHECK: mtl.global_avg_pool_grad %{{.*}} : (tensor<2x8xf32>) -> tensor<2x6x6x8xf32>
  %gg = mtl.global_avg_pool_grad %gp : (tensor<2x8xf32>) -> tensor<2x6x6x8xf32>
  // CHECK: mtl.upsample_grad %{{.*}} {mode = "bilinear", scale = array<i64: 2, 2>}
  %ug = mtl.upsample_grad %ad {scale = array<i64: 2, 2>, mode = "bilinear"} : (tensor<2x6x6x4xf32>) -> tensor<2x3x3x4xf32>
  // CHECK: mtl.avg_pool_grad
  %ag = mtl.avg_pool_grad %ug {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<2x3x3x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.softmax_grad
  %sg = mtl.softmax_grad %ag, %sm : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.layer_norm_grad_input
  %lg = mtl.layer_norm_grad_input %sg, %sm, %g : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>, tensor<4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.layer_norm_grad_gamma
  %lgg = mtl.layer_norm_grad_gamma %sg, %sm : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<4xf32>
  // CHECK: mtl.leaky_relu_grad %{{.*}}, %{{.*}} {alpha = 2.000000e-01 : f64}
  %lrg = mtl.leaky_relu_grad %lg, %c {alpha = 0.2} : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.sigmoid_grad
  %sig = mtl.sigmoid_grad %lrg, %s : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.tanh_grad
  %tg = mtl.tanh_grad %sig, %th : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.gelu_grad
  %gug = mtl.gelu_grad %tg, %th : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.conv2d_backward_input %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>}
  %bi = mtl.conv2d_backward_input %gug, %w {stride = array<i64: 1, 1>, padding = array<i64: 2, 2>, dilation = array<i64: 2, 2>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<3x3x2x4xf32>) -> tensor<2x6x6x4xf32>
  // CHECK: mtl.conv2d_backward_filter %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>}
  %bf = mtl.conv2d_backward_filter %x, %gug {stride = array<i64: 1, 1>, padding = array<i64: 2, 2>, dilation = array<i64: 2, 2>, groups = 2} : (tensor<2x6x6x4xf32>, tensor<2x6x6x4xf32>) -> tensor<3x3x2x4xf32>
  return
}
