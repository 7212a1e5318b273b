//===- KernelGraph.cpp - Names of the kernel-graph enums ------------------===//
//
// The strings are the ones the model descriptor uses (docs/runtime.md).
//
//===----------------------------------------------------------------------===//
#include "codegen/KernelGraph.h"

namespace mtl::kg {

const char *toString(ArgKind kind) {
  switch (kind) {
  case ArgKind::Input:
    return "input";
  case ArgKind::Target:
    return "target";
  case ArgKind::Mask:
    return "mask";
  case ArgKind::Param:
    return "param";
  case ArgKind::Loss:
    return "loss";
  case ArgKind::Prediction:
    return "prediction";
  case ArgKind::Grad:
    return "grad";
  case ArgKind::State:
    return "state";
  case ArgKind::StateOut:
    return "state_out";
  case ArgKind::Seed:
    return "seed";
  }
  return "unknown";
}

const char *toString(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  }
  return "unknown";
}

} // namespace mtl::kg
