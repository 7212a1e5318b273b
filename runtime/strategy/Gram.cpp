//===- Gram.cpp - Gram matrix and linear combination of task gradients ----===//

#include "runtime/strategy/GradientMethods.h"

#include <stdexcept>

namespace mtl::rt::strategy {

Gram gramMatrix(const std::vector<const float *> &g, int64_t n) {
  const size_t T = g.size();
  Gram G(T * T, 0.0);
  for (size_t i = 0; i < T; ++i)
    for (size_t j = i; j < T; ++j) {
      // Blocks of float sums, added up in double: vectorizes, stays exact
      // enough for n in the millions.
      double s = 0.0;
      for (int64_t b = 0; b < n; b += 1024) {
        float part = 0.0f;
        int64_t e = std::min<int64_t>(n, b + 1024);
        for (int64_t k = b; k < e; ++k)
          part += g[i][k] * g[j][k];
        s += part;
      }
      G[i * T + j] = G[j * T + i] = s;
    }
  return G;
}

void combine(const std::vector<const float *> &g, int64_t n,
             const std::vector<double> &alpha, float *out) {
  if (alpha.size() != g.size())
    throw std::invalid_argument("combine: one weight per gradient");
  for (int64_t k = 0; k < n; ++k)
    out[k] = 0.0f;
  for (size_t t = 0; t < g.size(); ++t) {
    const float a = static_cast<float>(alpha[t]);
    const float *gt = g[t];
    for (int64_t k = 0; k < n; ++k)
      out[k] += a * gt[k];
  }
}

double minNormTwo(double aa, double ab, double bb) {
  // d/dgamma |gamma a + (1 - gamma) b|^2 = 0 at (bb - ab) / (aa - 2ab + bb).
  double den = aa - 2.0 * ab + bb;
  if (den <= 1e-30)
    return 0.5; // a == b: any point is the minimum
  return std::min(1.0, std::max(0.0, (bb - ab) / den));
}

std::vector<double> gradientWeights(const std::string &name, const Gram &G,
                                    double cagradC, std::mt19937_64 &rng) {
  size_t T = 0;
  while (T * T < G.size())
    ++T;
  if (name == "pcgrad")
    return pcgradWeights(G, rng);
  if (name == "mgda_ub")
    return mgdaWeights(G);
  if (name == "cagrad")
    return cagradWeights(G, cagradC);
  if (name == "imtl_g")
    return imtlgWeights(G);
  return std::vector<double>(T, 1.0); // none: the plain sum
}

} // namespace mtl::rt::strategy
