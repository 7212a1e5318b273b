//===- Flops.cpp - Floating-point work of a step function ----------------===//
#include "codegen/Flops.h"

#include <functional>
#include <numeric>

namespace mtl::codegen {

namespace {
double elements(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), 1.0,
                         std::multiplies<double>());
}
} // namespace

double nodeFlops(const kg::Function &fn, const kg::Node &n) {
  auto shape = [&](int input) -> const std::vector<int64_t> & {
    return fn.values.at(n.inputs.at(input)).shape;
  };
  const std::vector<int64_t> &out = fn.values.at(n.result).shape;
  const std::string &op = n.op;
  // Convolutions: 2 * (forward output elements) * (taps per output), the
  // filter being [KH, KW, Ci / groups, Co]; each backward product does the
  // same work as the forward.
  if (op == "conv2d")
    return 2.0 * elements(out) * elements(shape(1)) / double(shape(1)[3]);
  if (op == "conv2d_backward_input") // (dy, w)
    return 2.0 * elements(shape(0)) * elements(shape(1)) / double(shape(1)[3]);
  if (op == "conv2d_backward_filter") // (x, dy) -> w
    return 2.0 * elements(shape(1)) * elements(out) / double(out[3]);
  if (op == "dense")
    return 2.0 * elements(out) * double(shape(0).back());
  if (op == "dense_backward_input") // [N, M] x [K, M]^T
    return 2.0 * elements(out) * double(shape(0).back());
  if (op == "dense_backward_weight") // [N, K]^T x [N, M]
    return 2.0 * elements(out) * double(shape(0).front());
  // Recurrences (x [N, T, F], w_input [F, G], w_hidden [H, G]): each step's
  // gate sums over F + H terms (the forward, a saved state, a backward
  // without one recomputing them); a backward sums dh_t over the G gate
  // gradients of step t + 1. Only the products.
  if (op == "lstm" || op == "gru" || op == "lstm_backward" ||
      op == "gru_backward" || op == "lstm_state" || op == "gru_state") {
    const double NT = double(shape(0)[0]) * double(shape(0)[1]),
                 F = double(shape(0)[2]), H = double(shape(2)[0]),
                 G = double(shape(2)[1]);
    const bool backward = op.find("_backward") != std::string::npos;
    // A backward handed the forward's state (lstm_state, gru_state) only
    // sums dh_t.
    const bool saved =
        backward && n.inputs.size() == (op == "lstm_backward" ? 6u : 7u);
    return 2.0 * NT * G * ((saved ? 0.0 : F + H) + (backward ? H : 0.0));
  }
  return elements(out);
}

double functionFlops(const kg::Function &fn) {
  double total = 0;
  for (const kg::Node &n : fn.nodes)
    total += nodeFlops(fn, n);
  return total;
}

} // namespace mtl::codegen
