// RUN: mtl-opt %s | mtl-opt | FileCheck %s
// Round trip of lstm, gru and their backward ops (ir/SequenceOps.td).

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
  // CHECK: mtl.gru_backward {{.*}} -> tensor<2x5x28xf32>
  %4 = mtl.gru_backward %x, %gi, %gh, %gb, %gb, %dl : (tensor<2x5x3xf32>, tensor<3x12xf32>, tensor<4x12xf32>, tensor<12xf32>, tensor<12xf32>, tensor<2x4xf32>) -> tensor<2x5x28xf32>
  return
}
