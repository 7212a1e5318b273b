//===- GradientMethods.h - Gradient manipulation on T task gradients ------===//
//
// Every method here combines T per-task gradients g_1..g_T (each n floats)
// into one: d = sum_t alpha_t g_t. The coefficients depend on the gradients
// only through their Gram matrix G_ij = g_i . g_j (PCGrad's projections keep
// each g_i' in the span of the g_t too), so a method is a function of the
// T x T Gram matrix; the O(n) work is one pass for G and one for d.
//
// Scales follow LibMTL: PCGrad sums the projected gradients; MGDA-UB,
// CAGrad and IMTL-G give weights that sum to 1 (the mean's scale).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_STRATEGY_GRADIENTMETHODS_H
#define MTL_RUNTIME_STRATEGY_GRADIENTMETHODS_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace mtl::rt::strategy {

/// T x T, row-major.
using Gram = std::vector<double>;

/// G_ij = g_i . g_j over n floats (accumulated in double).
Gram gramMatrix(const std::vector<const float *> &g, int64_t n);
/// out = sum_t alpha_t g_t.
void combine(const std::vector<const float *> &g, int64_t n,
             const std::vector<double> &alpha, float *out);

/// PCGrad (Yu et al. 2020): each g_i is projected onto the normal plane of
/// every g_j (random order) it conflicts with (g_i' . g_j < 0); d = sum g_i'.
std::vector<double> pcgradWeights(const Gram &G, std::mt19937_64 &rng);

/// MGDA-UB (Sener & Koltun 2018): the min-norm point of the convex hull of
/// the g_t (Frank-Wolfe), alpha on the simplex.
std::vector<double> mgdaWeights(const Gram &G);

/// CAGrad (Liu et al. 2021): d = (g0 + sqrt(phi)/|g_w| g_w) / (1 + c^2),
/// g0 the mean gradient, phi = c^2 |g0|^2, w on the simplex minimizing
/// g_w . g0 + sqrt(phi) |g_w|. c = 0 gives the mean gradient.
std::vector<double> cagradWeights(const Gram &G, double c);

/// IMTL-G (Liu et al. 2021): alpha summing to 1 such that d has the same
/// projection on every unit gradient u_t = g_t / |g_t|.
std::vector<double> imtlgWeights(const Gram &G);

/// The method `name` (pcgrad | mgda_ub | cagrad | imtl_g; "none" sums).
std::vector<double> gradientWeights(const std::string &name, const Gram &G,
                                    double cagradC, std::mt19937_64 &rng);

/// Min-norm point of {a, b} (MGDA's two-vector case): gamma in [0, 1]
/// minimizing |gamma a + (1 - gamma) b|^2, from aa = a.a, ab = a.b, bb = b.b.
double minNormTwo(double aa, double ab, double bb);

} // namespace mtl::rt::strategy

#endif // MTL_RUNTIME_STRATEGY_GRADIENTMETHODS_H
