//===- MGDA.cpp - MGDA-UB: the min-norm point of the task gradients -------===//
//
// Frank-Wolfe on the simplex, as Sener & Koltun's MinNormSolver: start at the
// best pair, then repeatedly move towards the vertex g_t with the smallest
// g_t . d, with the exact two-point line search.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/GradientMethods.h"

#include <cmath>

namespace mtl::rt::strategy {

std::vector<double> mgdaWeights(const Gram &G) {
  size_t T = 0;
  while (T * T < G.size())
    ++T;
  std::vector<double> a(T, 0.0);
  if (T == 1)
    return {1.0};
  // Best pair.
  double best = INFINITY;
  for (size_t i = 0; i < T; ++i)
    for (size_t j = i + 1; j < T; ++j) {
      double aa = G[i * T + i], ab = G[i * T + j], bb = G[j * T + j];
      double g = minNormTwo(aa, ab, bb);
      double norm = g * g * aa + 2 * g * (1 - g) * ab + (1 - g) * (1 - g) * bb;
      if (norm < best) {
        best = norm;
        std::fill(a.begin(), a.end(), 0.0);
        a[i] = g;
        a[j] = 1 - g;
      }
    }
  for (int it = 0; it < 250; ++it) {
    std::vector<double> Ga(T, 0.0);
    double vv = 0.0;
    for (size_t i = 0; i < T; ++i) {
      for (size_t j = 0; j < T; ++j)
        Ga[i] += G[i * T + j] * a[j];
      vv += a[i] * Ga[i];
    }
    size_t t = 0;
    for (size_t i = 1; i < T; ++i)
      if (Ga[i] < Ga[t])
        t = i;
    // Line search between v (the current point) and g_t: v.v, v.g_t, g_t.g_t.
    double gamma = minNormTwo(vv, Ga[t], G[t * T + t]);
    // minNormTwo weighs its first argument (v) by gamma.
    double change = 0.0;
    for (size_t i = 0; i < T; ++i) {
      double next = gamma * a[i] + (i == t ? 1 - gamma : 0.0);
      change += std::fabs(next - a[i]);
      a[i] = next;
    }
    if (change < 1e-6)
      break;
  }
  return a;
}

} // namespace mtl::rt::strategy
