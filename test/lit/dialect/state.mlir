// RUN: mtl-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// State tensors (kept across steps, not trained) and the per-step seed.

// CHECK-LABEL: func.func @train_step
func.func @train_step() {
  // CHECK: mtl.state "bn.running_var" {init = "ones"} : tensor<4xf32>
  %s = mtl.state "bn.running_var" {init = "ones"} : tensor<4xf32>
  // CHECK: mtl.seed : tensor<i32>
  %seed = mtl.seed : tensor<i32>
  // CHECK: mtl.state_update "bn.running_var"(%{{.*}} : tensor<4xf32>)
  mtl.state_update "bn.running_var"(%s : tensor<4xf32>)
  return
}

// -----

func.func @unknown_state(%v: tensor<4xf32>) {
  // expected-error @+1 {{updates unknown state 'nope'}}
  mtl.state_update "nope"(%v : tensor<4xf32>)
  return
}

// -----

func.func @state_type(%v: tensor<5xf32>) {
  %s = mtl.state "m" : tensor<4xf32>
  // expected-error @+1 {{new value 'tensor<5xf32>' does not match state 'm' 'tensor<4xf32>'}}
  mtl.state_update "m"(%v : tensor<5xf32>)
  return
}

// -----

func.func @state_init() {
  // expected-error @+1 {{unknown init 'he_normal' for a state (zeros, ones)}}
  %s = mtl.state "m" {init = "he_normal"} : tensor<4xf32>
  return
}
