// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// Round trip of lstm, gru, their backward ops and the lstm's saved state
// (ir/SequenceOps.td).

// CHECK-LABEL: func.func @seq
func.func @seq(%x: tensor<2x5x3xf32>, %wi: tensor<3x16xf32>, %wh: tensor<4x16xf32>,
               %b: tensor<16xf32>, %gi: tensor<3x12xf32>, %gh: tensor<4x12xf32>,
               %gb: tensor<12xf32>, %dy: tensor<2x5x4xf32>, %dl: tensor<2x4xf32>) {
  // CHECK: mtl.lstm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x5x4xf32>
  %0 = mtl.lstm %x, %wi, %wh, %b {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x5x4xf32>
  // CHECK: mtl.lstm {{.*}} -> tensor<2x4xf32>
  %1 = mtl.lstm %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.gru {{.*}} -> tensor<2x4xf32>
  %2 = mtl.gru %x, %gi, %gh, %gb, %gb : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.lstm_backward {{.*}} {return_sequences = true} : {{.*}} -> tensor<2x5x20xf32>
  %3 = mtl.lstm_backward %x, %wi, %wh, %b, %dy {return_sequences = true} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x5x4xf32>) -> tensor<2x5x20xf32>
  // CHECK: mtl.lstm_state {{.*}} -> tensor<6x6x4x2xf32>
  %s = mtl.lstm_state %x, %wi, %wh, %b : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>) -> tensor<6x6x4x2xf32>
  // CHECK: mtl.lstm_output %{{.*}} {return_sequences = true} : (tensor<6x6x4x2xf32>) -> tensor<2x5x4xf32>
  %5 = mtl.lstm_output %s {return_sequences = true} : (tensor<6x6x4x2xf32>) -> tensor<2x5x4xf32>
  // CHECK: mtl.lstm_output %{{.*}} : (tensor<6x6x4x2xf32>) -> tensor<2x4xf32>
  %6 = mtl.lstm_output %s : (tensor<6x6x4x2xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.lstm_backward {{.*}} : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>, tensor<6x6x4x2xf32>) -> tensor<2x5x20xf32>
  %7 = mtl.lstm_backward %x, %wi, %wh, %b, %dl, %s : (tensor<2x5x3xf32>, tensor<3x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<2x4xf32>, tensor<6x6x4x2xf32>) -> tensor<2x5x20xf32>
  // CHECK: mtl.gru_state {{.*}} -> tensor<6x5x4x2xf32>
  %gs = mtl.gru_state %x, %gi, %gh, %gb, %gb : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<6x5x4x2xf32>
  // CHECK: mtl.gru_output %{{.*}} : (tensor<6x5x4x2xf32>) -> tensor<2x4xf32>
  %8 = mtl.gru_output %gs : (tensor<6x5x4x2xf32>) -> tensor<2x4xf32>
  // CHECK: mtl.gru_backward {{.*}} : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>, tensor<6x5x4x2xf32>) -> tensor<2x5x28xf32>
  %9 = mtl.gru_backward %x, %gi, %gh, %gb, %gb, %dl, %gs : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>, tensor<6x5x4x2xf32>) -> tensor<2x5x28xf32>
  // CHECK: mtl.gru_backward {{.*}} -> tensor<2x5x28xf32>
  %4 = mtl.gru_backward %x, %gi, %gh, %gb, %gb, %dl : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>) -> tensor<2x5x28xf32>
  return
}
