// RUN: mtl-opt %s -split-input-file -mtl-save-recurrent-state | FileCheck %s

// An lstm with its backward in the same function: the lstm becomes
// lstm_output(lstm_state) and the backward reads the state.
// CHECK-LABEL: func.func @step
func.func @step(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>,
                %b: tensor<16xf32>, %dy: tensor<2x5x4xf32>) -> (tensor<2x5x4xf32>, tensor<2x5x20xf32>) {
  // CHECK-NOT: mtl.lstm %
  // CHECK: %[[S:.*]] = mtl.lstm_state %{{.*}} -> tensor<6x6x4x2xf32>
  // CHECK: %[[Y:.*]] = mtl.lstm_output %[[S]] {return_sequences = true} : (tensor<6x6x4x2xf32>) -> tensor<2x5x4xf32>
  %y = mtl.lstm %x, %wi, %wh, %b {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x5x4xf32>
  // CHECK: mtl.lstm_backward %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]] {return_sequences = true}
  %g = mtl.lstm_backward %x, %wi, %wh, %b, %dy {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x5x4xf32>) -> tensor<2x5x20xf32>
  // CHECK: return %[[Y]]
  return %y, %g : tensor<2x5x4xf32>, tensor<2x5x20xf32>
}

// -----

// No backward (a forward or eval function): the lstm stays.
// CHECK-LABEL: func.func @forward
func.func @forward(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>,
                   %b: tensor<16xf32>) -> tensor<2x4xf32> {
  // CHECK: mtl.lstm %
  // CHECK-NOT: lstm_state
  %y = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A backward of other operands (another lstm's weights): nothing to share.
// CHECK-LABEL: func.func @other_weights
func.func @other_weights(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>,
                         %wh2: tensor<4x16xf32>, %b: tensor<16xf32>, %dy: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x5x20xf32>) {
  // CHECK: mtl.lstm %
  // CHECK-NOT: lstm_state
  // CHECK: mtl.lstm_backward %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}} :
  %y = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x4xf32>
  %g = mtl.lstm_backward %x, %wi, %wh2, %b, %dy : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>) -> tensor<2x5x20xf32>
  return %y, %g : tensor<2x4xf32>, tensor<2x5x20xf32>
}

// -----

// A gru likewise: gru_output(gru_state), the backward reads the state.
// CHECK-LABEL: func.func @gru_step
func.func @gru_step(%x: tensor<2x5x3xf32>, %wi: tensor<3x12xf32>, %wh: tensor<4x12xf32>,
                    %bi: tensor<12xf32>, %bh: tensor<12xf32>, %dy: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x5x28xf32>) {
  // CHECK-NOT: mtl.gru %
  // CHECK: %[[S:.*]] = mtl.gru_state %{{.*}} -> tensor<6x5x4x2xf32>
  // CHECK: %[[Y:.*]] = mtl.gru_output %[[S]] : (tensor<6x5x4x2xf32>) -> tensor<2x4xf32>
  %y = mtl.gru %x, %wi, %wh, %bi, %bh : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.gru_backward %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]] :
  %g = mtl.gru_backward %x, %wi, %wh, %bi, %bh, %dy : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>) -> tensor<2x5x28xf32>
  // CHECK: return %[[Y]]
  return %y, %g : tensor<2x4xf32>, tensor<2x5x28xf32>
}

// -----

// Two backwards of one lstm (per-task gradients of a shared layer): one
// state, read by both.
// CHECK-LABEL: func.func @two_backwards
func.func @two_backwards(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>,
                         %b: tensor<16xf32>, %dy1: tensor<2x4xf32>, %dy2: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x5x20xf32>, tensor<2x5x20xf32>) {
  // CHECK: %[[S:.*]] = mtl.lstm_state
  // CHECK-NOT: mtl.lstm_state
  // CHECK: mtl.lstm_backward %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]] :
  // CHECK: mtl.lstm_backward %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]] :
  %y = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x4xf32>
  %g1 = mtl.lstm_backward %x, %wi, %wh, %b, %dy1 : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>) -> tensor<2x5x20xf32>
  %g2 = mtl.lstm_backward %x, %wi, %wh, %b, %dy2 : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>) -> tensor<2x5x20xf32>
  return %y, %g1, %g2 : tensor<2x4xf32>, tensor<2x5x20xf32>, tensor<2x5x20xf32>
}
