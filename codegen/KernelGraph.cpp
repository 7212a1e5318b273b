//===- KernelGraph.cpp - Names of the kernel-graph enums ------------------===//
//
// The strings are the ones the model descriptor uses (docs/runtime.md).
//
//===----------------------------------------------------------------------===//
#include "codegen/KernelGraph.h"

#include <sstream>

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
  case ArgKind::LossWeights:
    return "loss_weights";
  case ArgKind::TaskGrad:
    return "task_grad";
  }
  return "unknown";
}

const char *toString(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  case DType::I8:
    return "i8";
  }
  return "unknown";
}

std::string fingerprint(const Function &fn) {
  std::ostringstream os;
  os << fn.name << '|';
  for (const Value &v : fn.values) {
    os << int(v.dtype) << ':';
    for (auto e : v.shape)
      os << e << ',';
    os << ';';
  }
  for (const Node &n : fn.nodes) {
    os << n.op << '(';
    for (int i : n.inputs)
      os << i << ',';
    os << ")" << n.result << '{';
    for (auto &[k, v] : n.ints) {
      os << k << '=';
      for (auto e : v)
        os << e << ',';
    }
    for (auto &[k, v] : n.floats)
      os << k << '=' << v << ',';
    os << '}';
  }
  for (const Arg &a : fn.args)
    os << "a" << int(a.kind) << a.name << '=' << a.value << ';';
  for (const Arg &a : fn.outputs)
    os << "o" << int(a.kind) << a.name << '=' << a.value << ';';
  return os.str();
}

int elementBytes(DType dtype) { return dtype == DType::I8 ? 1 : 4; }

int64_t byteSize(const Value &v) {
  int64_t n = elementBytes(v.dtype);
  for (int64_t d : v.shape)
    n *= d;
  return n;
}

bool isGeneralConv(const Node &node) {
  auto d = node.ints.find("dilation");
  if (d != node.ints.end() && d->second != std::vector<int64_t>{1, 1})
    return true;
  auto g = node.ints.find("groups");
  return g != node.ints.end() && g->second != std::vector<int64_t>{1};
}

const Node *poolOfArgmax(const Function &fn, const Node &argmax) {
  auto attr = [](const Node &n, const char *k) {
    auto it = n.ints.find(k);
    return it == n.ints.end() ? std::vector<int64_t>{} : it->second;
  };
  for (const Node &n : fn.nodes)
    if (n.op == "max_pool" && n.inputs == argmax.inputs &&
        attr(n, "kernel") == attr(argmax, "kernel") &&
        attr(n, "stride") == attr(argmax, "stride") &&
        attr(n, "padding") == attr(argmax, "padding"))
      return &n;
  return nullptr;
}

const Node *producerOf(const Function &fn, int v) {
  for (const Node &n : fn.nodes)
    if (n.result == v)
      return &n;
  return nullptr;
}

void markDirectConvs(Function &fn) {
  for (Node &n : fn.nodes)
    if (n.op == "conv2d" || n.op == "conv2d_backward_input" ||
        n.op == "conv2d_backward_filter")
      n.ints["mtl.direct"] = {1};
}

} // namespace mtl::kg
