//===- CAGrad.cpp - Conflict-averse gradient descent ----------------------===//
//
// With b = 1/T (so g0 = G-weighted mean) the dual is
//   min_{w in simplex} F(w) = w^T G b + sqrt(phi) sqrt(w^T G w),
// solved by exponentiated gradient (mirror descent on the simplex); T is
// small, so a few hundred T^2 iterations cost nothing beside the O(n) pass.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/GradientMethods.h"

#include <cmath>

namespace mtl::rt::strategy {

std::vector<double> cagradWeights(const Gram &G, double c) {
  size_t T = 0;
  while (T * T < G.size())
    ++T;
  std::vector<double> b(T, 1.0 / T), Gb(T, 0.0);
  double g0g0 = 0.0;
  for (size_t i = 0; i < T; ++i) {
    for (size_t j = 0; j < T; ++j)
      Gb[i] += G[i * T + j] * b[j];
    g0g0 += b[i] * Gb[i];
  }
  double sqrtPhi = c * std::sqrt(std::max(g0g0, 0.0));
  if (sqrtPhi <= 0.0)
    return b; // c = 0: the mean gradient

  std::vector<double> w(T, 1.0 / T), Gw(T);
  auto normW = [&] {
    double s = 0.0;
    for (size_t i = 0; i < T; ++i) {
      Gw[i] = 0.0;
      for (size_t j = 0; j < T; ++j)
        Gw[i] += G[i * T + j] * w[j];
      s += w[i] * Gw[i];
    }
    return std::sqrt(std::max(s, 1e-30));
  };
  // Step size relative to the gradient scale (|g0|^2).
  double scale = std::max(g0g0, 1e-30);
  for (int it = 0; it < 300; ++it) {
    double nw = normW();
    double z = 0.0;
    for (size_t i = 0; i < T; ++i) {
      double grad = Gb[i] + sqrtPhi * Gw[i] / nw;
      w[i] *= std::exp(-0.5 * grad / scale);
      z += w[i];
    }
    for (double &x : w)
      x /= z;
  }
  double nw = normW();
  double lambda = sqrtPhi / nw;
  std::vector<double> alpha(T);
  for (size_t i = 0; i < T; ++i)
    alpha[i] = (b[i] + lambda * w[i]) / (1.0 + c * c);
  return alpha;
}

} // namespace mtl::rt::strategy
