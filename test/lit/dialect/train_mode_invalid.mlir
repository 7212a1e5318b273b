// RUN: mtl-opt %s -split-input-file -verify-diagnostics

func.func @bn_rank(%x: tensor<8xf32>, %c: tensor<8xf32>) {
  // expected-error @+1 {{batch_norm expects an input [batch, ..., channels] of rank >= 2, got [8]}}
  %y = mtl.batch_norm %x, %c, %c, %c, %c : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @bn_gamma(%x: tensor<2x4x4x3xf32>, %c: tensor<3xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{batch_norm gamma must be [3], got [4]}}
  %y = mtl.batch_norm %x, %g, %c, %c, %c : (tensor<2x4x4x3xf32>, tensor<4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @bn_running_var(%x: tensor<2x3xf32>, %c: tensor<3xf32>, %v: tensor<2x3xf32>) {
  // expected-error @+1 {{batch_norm running_var must be [3], got [2, 3]}}
  %y = mtl.batch_norm %x, %c, %c, %c, %v : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @bn_momentum(%x: tensor<2x3xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{batch_norm momentum must be in [0, 1], got 1.5}}
  %y = mtl.batch_norm %x, %c, %c, %c, %c {momentum = 1.5 : f64} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @bn_eps(%x: tensor<2x3xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{batch_norm eps must be > 0, got 0}}
  %y = mtl.batch_norm %x, %c, %c, %c, %c {eps = 0.0 : f64} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @bn_result(%x: tensor<2x3xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{result type 'tensor<2x4xf32>' does not match the inferred type 'tensor<2x3xf32>'}}
  %y = mtl.batch_norm %x, %c, %c, %c, %c : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @stats_of_other(%x: tensor<2x3xf32>, %x2: tensor<2x3xf32>, %c: tensor<3xf32>) {
  %s = mtl.batch_stats %x2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{stats must be the mtl.batch_stats of its input}}
  %y = mtl.batch_norm_train %x, %s, %c, %c : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @stats_shape(%x: tensor<2x3xf32>, %s: tensor<3x3xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{batch_norm_train stats must be [2, 3], got [3, 3]}}
  %y = mtl.batch_norm_train %x, %s, %c, %c : (tensor<2x3xf32>, tensor<3x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @update_row(%r: tensor<3xf32>, %s: tensor<2x3xf32>) {
  // expected-error @+1 {{batch_norm_update_stat row must be 0 (mean) or 1 (variance), got 2}}
  %y = mtl.batch_norm_update_stat %r, %s {row = 2, count = 4} : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dropout_rate(%x: tensor<2x3xf32>, %s: tensor<i32>) {
  // expected-error @+1 {{dropout rate must be in [0, 1), got 1}}
  %y = mtl.dropout %x, %s {rate = 1.0 : f64} : (tensor<2x3xf32>, tensor<i32>) -> tensor<*xf32>
  return
}

// -----

func.func @dropout_seed(%x: tensor<2x3xf32>, %s: tensor<1xi32>) {
  // expected-error @+1 {{operand #1 must be 0D tensor of 32-bit signless integer values}}
  %y = mtl.dropout %x, %s : (tensor<2x3xf32>, tensor<1xi32>) -> tensor<*xf32>
  return
}

// -----

func.func @reparam_shapes(%m: tensor<4x8xf32>, %lv: tensor<4x6xf32>, %s: tensor<i32>) {
  // expected-error @+1 {{reparameterize mean and logvar must have the same shape, got [4, 8] and [4, 6]}}
  %z = mtl.reparameterize %m, %lv, %s : (tensor<4x8xf32>, tensor<4x6xf32>, tensor<i32>) -> tensor<*xf32>
  return
}

// -----

func.func @reparam_grad(%dy: tensor<4x8xf32>, %lv: tensor<4x6xf32>, %s: tensor<i32>) {
  // expected-error @+1 {{grad_output, logvar and result must have the same type}}
  %z = mtl.reparameterize_grad %dy, %lv, %s : (tensor<4x8xf32>, tensor<4x6xf32>, tensor<i32>) -> tensor<4x8xf32>
  return
}
