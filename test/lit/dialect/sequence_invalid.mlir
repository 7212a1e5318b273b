// RUN: mtl-opt %s -split-input-file -verify-diagnostics
// Shape-rule and verifier errors of lstm, gru and their backward ops.

func.func @lstm_rank(%x: tensor<2x5x3x1xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{lstm expects a sequence [batch, time, features] of rank 3, got [2, 5, 3, 1]}}
  %0 = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3x1xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @lstm_hidden(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x12xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{lstm hidden weight must be [H, 4H], got [4, 12]}}
  %0 = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x12xf32>, tensor<16xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @gru_input_weight(%x: tensor<2x5x3xf32>, %wi: tensor<2x12xf32>, %wh: tensor<4x12xf32>, %b: tensor<12xf32>) {
  // expected-error @+1 {{gru input weight must be [3, 12], got [2, 12]}}
  %0 = mtl.gru %x, %wi, %wh, %b, %b : (tensor<2x5x3xf32>, tensor<2x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @gru_bias(%x: tensor<2x5x3xf32>, %wi: tensor<3x12xf32>, %wh: tensor<4x12xf32>, %b: tensor<12xf32>, %c: tensor<4xf32>) {
  // expected-error @+1 {{gru bias must be [12], got [4]}}
  %0 = mtl.gru %x, %wi, %wh, %b, %c : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @lstm_result(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{result type 'tensor<2x4xf32>' does not match the inferred type 'tensor<2x5x4xf32>'}}
  %0 = mtl.lstm %x, %wi, %wh, %b {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @backward_dy(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>, %b: tensor<16xf32>, %dy: tensor<2x5x4xf32>) {
  // expected-error @+1 {{grad_output must be 'tensor<2x4xf32>', got 'tensor<2x5x4xf32>'}}
  %0 = mtl.lstm_backward %x, %wi, %wh, %b, %dy : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x5x4xf32>) -> tensor<2x5x20xf32>
  return
}

// -----

func.func @backward_result(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>, %b: tensor<16xf32>, %dy: tensor<2x4xf32>) {
  // expected-error @+1 {{result must be [2, 5, 20]}}
  %0 = mtl.lstm_backward %x, %wi, %wh, %b, %dy : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>) -> tensor<2x5x16xf32>
  return
}

// -----

func.func @backward_state(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>, %b: tensor<16xf32>, %dy: tensor<2x4xf32>, %s: tensor<5x6x4x2xf32>) {
  // expected-error @+1 {{state must be [6, 6, 4, 2]}}
  %0 = mtl.lstm_backward %x, %wi, %wh, %b, %dy, %s : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>, tensor<5x6x4x2xf32>) -> tensor<2x5x20xf32>
  return
}

// -----

func.func @output_of_not_a_state(%s: tensor<6x5x4x2xf32>) {
  // expected-error @+1 {{lstm_output expects an lstm_state [T + 1, 6, H, N], got [6, 5, 4, 2]}}
  %0 = mtl.lstm_output %s : (tensor<6x5x4x2xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @gru_backward_state(%x: tensor<2x5x3xf32>, %wi: tensor<3x12xf32>, %wh: tensor<4x12xf32>, %b: tensor<12xf32>, %dy: tensor<2x4xf32>, %s: tensor<6x6x4x2xf32>) {
  // expected-error @+1 {{state must be [6, 5, 4, 2]}}
  %0 = mtl.gru_backward %x, %wi, %wh, %b, %b, %dy, %s : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>, tensor<6x6x4x2xf32>) -> tensor<2x5x28xf32>
  return
}
