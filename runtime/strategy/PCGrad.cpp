//===- PCGrad.cpp - Projecting conflicting gradients ----------------------===//
//
// g_i' = sum_k c_ik g_k (c_i starts as e_i); a projection on g_j subtracts
// (g_i' . g_j / |g_j|^2) g_j, and g_i' . g_j = sum_k c_ik G_kj: the whole
// method runs on the Gram matrix.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/GradientMethods.h"

#include <algorithm>
#include <numeric>

namespace mtl::rt::strategy {

std::vector<double> pcgradWeights(const Gram &G, std::mt19937_64 &rng) {
  size_t T = 0;
  while (T * T < G.size())
    ++T;
  std::vector<double> alpha(T, 0.0);
  std::vector<size_t> order(T);
  for (size_t i = 0; i < T; ++i) {
    std::vector<double> c(T, 0.0);
    c[i] = 1.0;
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t j : order) {
      if (j == i || G[j * T + j] <= 0.0)
        continue;
      double dot = 0.0;
      for (size_t k = 0; k < T; ++k)
        dot += c[k] * G[k * T + j];
      if (dot < 0.0)
        c[j] -= dot / G[j * T + j];
    }
    for (size_t k = 0; k < T; ++k)
      alpha[k] += c[k];
  }
  return alpha;
}

} // namespace mtl::rt::strategy
