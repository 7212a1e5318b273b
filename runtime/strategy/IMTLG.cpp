//===- IMTLG.cpp - Impartial MTL, gradient balancing ----------------------===//
//
// LibMTL's closed form: with D_j = g_1 - g_{j+1}, U_j = u_1 - u_{j+1}
// (u = unit gradients), alpha_{2..T} = g_1 U^T (D U^T)^{-1}, alpha_1 =
// 1 - sum(alpha_{2..T}). Every product is a Gram entry (u_i = g_i / |g_i|).
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/GradientMethods.h"

#include <cmath>

namespace mtl::rt::strategy {

namespace {
/// Solves x A = y (A m x m, row-major) by Gaussian elimination with partial
/// pivoting on A^T; false when singular.
bool solveLeft(std::vector<double> A, std::vector<double> y, size_t m,
               std::vector<double> &x) {
  // x A = y  <=>  A^T x^T = y^T.
  std::vector<double> M(m * m);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < m; ++j)
      M[i * m + j] = A[j * m + i];
  for (size_t col = 0; col < m; ++col) {
    size_t p = col;
    for (size_t r = col + 1; r < m; ++r)
      if (std::fabs(M[r * m + col]) > std::fabs(M[p * m + col]))
        p = r;
    if (std::fabs(M[p * m + col]) < 1e-300)
      return false;
    for (size_t j = 0; j < m; ++j)
      std::swap(M[col * m + j], M[p * m + j]);
    std::swap(y[col], y[p]);
    for (size_t r = col + 1; r < m; ++r) {
      double f = M[r * m + col] / M[col * m + col];
      for (size_t j = col; j < m; ++j)
        M[r * m + j] -= f * M[col * m + j];
      y[r] -= f * y[col];
    }
  }
  x.assign(m, 0.0);
  for (size_t i = m; i-- > 0;) {
    double s = y[i];
    for (size_t j = i + 1; j < m; ++j)
      s -= M[i * m + j] * x[j];
    x[i] = s / M[i * m + i];
  }
  return true;
}
} // namespace

std::vector<double> imtlgWeights(const Gram &G) {
  size_t T = 0;
  while (T * T < G.size())
    ++T;
  if (T == 1)
    return {1.0};
  std::vector<double> norm(T);
  for (size_t i = 0; i < T; ++i)
    norm[i] = std::sqrt(std::max(G[i * T + i], 1e-30));
  // g_i . u_j
  auto gu = [&](size_t i, size_t j) { return G[i * T + j] / norm[j]; };
  size_t m = T - 1;
  std::vector<double> DU(m * m), y(m);
  for (size_t a = 0; a < m; ++a) {
    for (size_t b = 0; b < m; ++b)
      // (g_0 - g_{a+1}) . (u_0 - u_{b+1})
      DU[a * m + b] = gu(0, 0) - gu(0, b + 1) - gu(a + 1, 0) + gu(a + 1, b + 1);
    y[a] = gu(0, 0) - gu(0, a + 1); // g_0 . U_a
  }
  std::vector<double> rest;
  if (!solveLeft(DU, y, m, rest))
    return std::vector<double>(T, 1.0 / T); // parallel gradients: the mean
  std::vector<double> alpha(T);
  double s = 0.0;
  for (size_t a = 0; a < m; ++a) {
    alpha[a + 1] = rest[a];
    s += rest[a];
  }
  alpha[0] = 1.0 - s;
  return alpha;
}

} // namespace mtl::rt::strategy
