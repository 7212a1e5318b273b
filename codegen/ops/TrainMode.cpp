//===- TrainMode.cpp - batch_norm, dropout, reparameterize ----------------===//
//
// batch_norm (evaluation: running statistics), its training expansion
// (batch_stats, batch_norm_train, batch_norm_update_stat) and gradients,
// dropout and reparameterize.
//
// Schedules (CPU): per-channel coefficients (scale, shift, ...) are tiny
// compute_root stages; every [N, ..., C] stage is one elementwise pass,
// vectorized over the channels and parallel over the batch. Per-channel
// sums over N*H*W are channelSums (ChannelSums.cpp). GPU: every stage
// compute_root with gpu_tile; the sums use one chunk per sample.
//
// Noise: a counter-based hash (two rounds of murmur3's fmix32) of the
// element's row-major index, keyed by (seed, stream): the same value in the
// forward and the backward pass, nothing stored, any schedule.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Segments.h"
#include "codegen/ops/CnnOps.h"

#include <cmath>

using namespace Halide;

namespace mtl::codegen {
namespace {

bool isTraining(const OpContext &ctx) {
  auto it = ctx.node.ints.find("training");
  return it != ctx.node.ints.end() && !it->second.empty() && it->second[0];
}

int64_t intAttr(const OpContext &ctx, const std::string &key, int64_t def) {
  auto it = ctx.node.ints.find(key);
  return it == ctx.node.ints.end() || it->second.empty() ? def : it->second[0];
}

//===- Counter-based noise ------------------------------------------------===//

Expr u32(uint32_t v) { return Internal::make_const(UInt(32), uint64_t(v)); }

Expr fmix32(Expr h) {
  h = h ^ (h >> 16);
  h = h * u32(0x85ebca6bu);
  h = h ^ (h >> 13);
  h = h * u32(0xc2b2ae35u);
  return h ^ (h >> 16);
}

/// The key of (seed, stream): a uint32 Expr.
Expr noiseKey(const OpContext &ctx, Func seed) {
  uint64_t stream = static_cast<uint64_t>(intAttr(ctx, "stream", 0));
  uint32_t salt = static_cast<uint32_t>(stream) * 0x9E3779B9u +
                  static_cast<uint32_t>(stream >> 32) + 0x7F4A7C15u;
  return fmix32(cast(UInt(32), seed(std::vector<Expr>{})) ^ u32(salt));
}

/// Uniform in [0, 1) (24 bits) of counter `i` (uint32) under `key`.
Expr uniform(Expr i, Expr key) {
  Expr h = fmix32(fmix32(i ^ key) + key);
  return cast<float>(h >> 8) * (1.0f / 16777216.0f);
}

/// Row-major linear index of the element at Halide vars `v` (uint32).
Expr linearIndex(const std::vector<Var> &v, const std::vector<int64_t> &shape) {
  Expr idx = 0;
  for (int i = static_cast<int>(v.size()) - 1; i >= 0; --i)
    idx = idx * hdim(shape, i) + v[i];
  return cast(UInt(32), idx);
}

/// A standard normal of element `i` (Box-Muller of counters 2i, 2i + 1).
Expr normal(Expr i, Expr key) {
  Expr u1 = 1.0f - uniform(2 * i, key); // (0, 1]
  Expr u2 = uniform(2 * i + 1, key);
  return sqrt(-2.0f * log(u1)) * cos(float(2 * M_PI) * u2);
}

//===- Per-channel reductions ---------------------------------------------===//

/// A tiny per-channel stage: compute_root, vectorized (or one GPU thread
/// per channel).
void scheduleChannel(Func f, Var c, int C, bool gpu) {
  f.compute_root();
  if (gpu) {
    gpuStage(f, {c}, {C});
    return;
  }
  int w = vectorLanes(C);
  if (w > 1)
    f.vectorize(c, w, TailStrategy::GuardWithIf);
}

int64_t leadingCount(const std::vector<int64_t> &s) {
  int64_t m = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    m *= s[i];
  return m;
}

void requireChannels(const OpContext &ctx, size_t idx, int64_t C,
                     const char *what) {
  if (ctx.inputShapes[idx] != std::vector<int64_t>{C})
    throw LoweringError{std::string(what) + " must be [C]"};
}

void requireStats(const OpContext &ctx, size_t idx, int64_t C) {
  if (ctx.inputShapes[idx] != std::vector<int64_t>{2, C})
    throw LoweringError{"stats must be [2, C]"};
}

/// y(v) = x(v) * a(c) + b(c), elementwise over a [N, ..., C] tensor.
Func affine(OpContext &ctx, Func x, Func a, Func b) {
  std::vector<Var> v = makeVars(ctx.rank());
  Func out(ctx.resultName);
  // A fused epilogue (the activation after a batch norm) shares the pass.
  out(v) =
      ctx.applyEpilogue(call(x, asExprs(v)) * a(v[0]) + b(v[0]), asExprs(v));
  if (!ctx.inlined) // else recomputed where it is read (Segments.cpp)
    scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

//===- batch_norm ---------------------------------------------------------===//

/// Inference batch norm as y = scale(c) x + shift(c), both per channel from
/// gamma, beta and the running statistics, computed once per call. Cached
/// in ctx.shared (when there is one): an epilogue may be applied to several
/// expressions of its producer.
std::pair<Func, Func> inferenceAffine(const OpContext &ctx) {
  const std::string scaleKey = batchNormAffineKey(ctx.node, "scale"),
                    shiftKey = batchNormAffineKey(ctx.node, "shift");
  if (ctx.shared && ctx.shared->count(scaleKey) && ctx.shared->count(shiftKey))
    return {ctx.shared->at(scaleKey), ctx.shared->at(shiftKey)};
  const int C = hdim(ctx.shape, 0);
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  Func gamma = ctx.inputs[1], beta = ctx.inputs[2], rm = ctx.inputs[3],
       rv = ctx.inputs[4];
  Var c("c");
  Func scale(ctx.name("scale")), shift(ctx.name("shift"));
  scale(c) = gamma(c) / sqrt(rv(c) + eps);
  shift(c) = beta(c) - rm(c) * scale(c);
  scheduleChannel(scale, c, C, ctx.gpu);
  scheduleChannel(shift, c, C, ctx.gpu);
  if (ctx.shared) {
    (*ctx.shared)[scaleKey] = scale;
    (*ctx.shared)[shiftKey] = shift;
  }
  return {scale, shift};
}

/// What inference batch_norm needs, as an op or as a product's epilogue.
void requireInference(const OpContext &ctx) {
  requireArity(ctx, 5, "(x, gamma, beta, running_mean, running_var)");
  if (isTraining(ctx))
    throw LoweringError{"batch_norm in training mode must be expanded by "
                        "mtl-autodiff (batch_stats + batch_norm_train)"};
  if (ctx.rank() < 2 || ctx.inputShapes[0] != ctx.shape)
    throw LoweringError{"expects x of rank >= 2 and a result of its shape"};
  for (size_t k = 1; k < 5; ++k)
    requireChannels(ctx, k, hdim(ctx.shape, 0),
                    "gamma, beta and the running statistics");
}

Func lowerBatchNorm(OpContext &ctx) {
  requireInference(ctx);
  auto [scale, shift] = inferenceAffine(ctx);
  return affine(ctx, ctx.inputs[0], scale, shift);
}

/// One pass over x: the sums of d = x - K(c) and of d^2, with K(c) the mean
/// of the channel over the first sample (a 1/N read). var = E[d^2] - E[d]^2
/// is the textbook shifted-data formula: with K near the mean, E[d]^2 is
/// small beside E[d^2] and nothing cancels, unlike E[x^2] - E[x]^2 (a
/// two-pass mean-then-variance read x twice: ~1.4 ms per step on the
/// reference model's first layer).
Func lowerBatchStats(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  const auto &s = ctx.inputShapes[0];
  if (s.size() < 2 || ctx.shape != std::vector<int64_t>{2, s.back()})
    throw LoweringError{"expects x [N, ..., C] and a result [2, C]"};
  // A first-layer conv's, from its input patches' moments.
  if (auto fc = firstConvOf(ctx, ctx.node.inputs[0]))
    return firstConvStats(ctx, *fc);
  const int C = static_cast<int>(s.back());
  const float M = static_cast<float>(leadingCount(s));
  Func x = ctx.inputs[0];
  Var c("c"), row("row");
  // The shift: the first sample's channel mean.
  std::vector<int64_t> first = s;
  first[0] = 1;
  Func firstSum =
      channelSums(ctx, first, "shift_sum",
                  {[&](const std::vector<Expr> &at) { return call(x, at); }});
  Func shift(ctx.name("shift"));
  shift(c) = firstSum(c) / static_cast<float>(leadingCount(first));
  scheduleChannel(shift, c, C, ctx.gpu);
  Func sums = channelSums(
      ctx, s, "sums",
      {[&](const std::vector<Expr> &at) { return call(x, at) - shift(at[0]); },
       [&](const std::vector<Expr> &at) {
         Expr d = call(x, at) - shift(at[0]);
         return d * d;
       }});
  Func out(ctx.resultName);
  Expr m1 = sums(c)[0] / M;
  out(c, row) =
      select(row == 0, shift(c) + m1, max(sums(c)[1] / M - m1 * m1, 0.0f));
  scheduleElementwise(out, {c, row}, ctx.shape, ctx.gpu);
  return out;
}

/// Per-channel inverse standard deviation from stats (compute_root).
Func invStd(OpContext &ctx, Func stats, int C, float eps) {
  Var c("c");
  Func inv(ctx.name("inv"));
  inv(c) = 1.0f / sqrt(stats(c, 1) + eps);
  scheduleChannel(inv, c, C, ctx.gpu);
  return inv;
}

Func lowerBatchNormTrain(OpContext &ctx) {
  requireArity(ctx, 4, "(x, stats, gamma, beta)");
  if (ctx.rank() < 2 || ctx.inputShapes[0] != ctx.shape)
    throw LoweringError{"expects x of rank >= 2 and a result of its shape"};
  const int C = hdim(ctx.shape, 0);
  requireStats(ctx, 1, C);
  requireChannels(ctx, 2, C, "gamma");
  requireChannels(ctx, 3, C, "beta");
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  Func stats = ctx.inputs[1], gamma = ctx.inputs[2], beta = ctx.inputs[3];
  Var c("c");
  Func scale(ctx.name("scale")), shift(ctx.name("shift"));
  scale(c) = gamma(c) / sqrt(stats(c, 1) + eps);
  shift(c) = beta(c) - stats(c, 0) * scale(c);
  scheduleChannel(scale, c, C, ctx.gpu);
  scheduleChannel(shift, c, C, ctx.gpu);
  if (ctx.shared && !ctx.gpu) { // for a max pool after it (FirstLayerPool.cpp)
    (*ctx.shared)[batchNormAffineKey(ctx.node, "scale")] = scale;
    (*ctx.shared)[batchNormAffineKey(ctx.node, "shift")] = shift;
  }
  return affine(ctx, ctx.inputs[0], scale, shift);
}

Func lowerBatchNormUpdateStat(OpContext &ctx) {
  requireArity(ctx, 2, "(running, stats)");
  if (ctx.shape.size() != 1 || ctx.inputShapes[0] != ctx.shape)
    throw LoweringError{"expects running and a result [C]"};
  const int C = static_cast<int>(ctx.shape[0]);
  requireStats(ctx, 1, C);
  const int64_t row = intAttr(ctx, "row", 0), count = intAttr(ctx, "count", 1);
  if (row != 0 && row != 1)
    throw LoweringError{"row must be 0 or 1"};
  const double m = ctx.floatAttr("momentum", 0.1);
  const double k =
      row == 1 && count > 1 ? double(count) / double(count - 1) : 1.0;
  Func running = ctx.inputs[0], stats = ctx.inputs[1];
  Var c("c");
  Func out(ctx.resultName);
  out(c) = float(1 - m) * running(c) +
           float(m * k) * stats(c, static_cast<int>(row));
  scheduleChannel(out, c, C, ctx.gpu);
  return out;
}

Func lowerBatchNormGradGamma(OpContext &ctx) {
  requireArity(ctx, 3, "(dy, x, stats)");
  const auto &s = ctx.inputShapes[1];
  if (s.size() < 2 || ctx.inputShapes[0] != s ||
      ctx.shape != std::vector<int64_t>{s.back()})
    throw LoweringError{"expects dy and x [N, ..., C] and a result [C]"};
  const int C = static_cast<int>(s.back());
  requireStats(ctx, 2, C);
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  Func dy = ctx.inputs[0], x = ctx.inputs[1], stats = ctx.inputs[2];
  Func inv = invStd(ctx, stats, C, eps);
  // sum dy (x - mean), times inv once per channel.
  auto dyXc = [&](const std::vector<Expr> &at) {
    return call(dy, at) * (call(x, at) - stats(at[0], 0));
  };
  Var c("c");
  Func out(ctx.resultName);
  // The batch norm's dbeta = bias_grad(dy) reads the same dy: with the
  // dgamma lowered first (autodiff's order) its sum is taken in this pass
  // and shared (lowerBiasGrad), one pass over dy instead of two.
  bool sibling = false;
  for (const kg::Node &other : ctx.fn.nodes)
    sibling |= other.op == "bias_grad" && other.inputs.size() == 1 &&
               other.inputs[0] == ctx.node.inputs[0];
  // A first-layer grad-filter that takes the moments shortcut needs the
  // sums of dy times each tap of the conv's patches: P more terms here.
  std::optional<FirstConv> fc;
  if (foldedFilterGrad(ctx, ctx.node.inputs[0], ctx.node.inputs[1]))
    fc = firstConvOf(ctx, ctx.node.inputs[1]);
  // Under a max pool whose argmax the forward kept, those sums visit each
  // pool window once (FirstLayerPoolGrad.cpp): S1 and sum dy, of which
  //   sum dy (x - mean) = sum_t W(c, t) S1(c, t) + (b(c) - mean(c)) sum dy.
  Func poolSums = fc ? firstLayerPoolGradSums(ctx, *fc) : Func();
  Expr centred, total;  // sum dy (x - mean), sum dy
  std::vector<Expr> s1; // sum dy tap_t (fc)
  if (poolSums.defined()) {
    const int P = fc->P;
    auto f64 = [](Expr e) { return cast<double>(e); };
    total = poolSums(c)[P];
    Expr d = f64(fc->weight(c, P) - stats(c, 0)) * f64(total);
    for (int t = 0; t < P; ++t) {
      s1.push_back(poolSums(c)[t]);
      d += f64(fc->weight(c, t)) * f64(s1.back());
    }
    centred = cast<float>(d);
  } else {
    std::vector<ChannelTerm> terms = {dyXc};
    if (sibling && ctx.shared)
      terms.push_back(
          [&](const std::vector<Expr> &at) { return call(dy, at); });
    const size_t first = terms.size();
    for (int t = 0; fc && t < fc->P; ++t)
      terms.push_back([&, t](const std::vector<Expr> &at) {
        return call(dy, at) * fc->tap(t, at[1], at[2], at[3]);
      });
    Func sums = channelSums(ctx, s, "sums", terms);
    auto member = [&](size_t k) {
      return terms.size() == 1 ? Expr(sums(c)) : Expr(sums(c)[k]);
    };
    centred = member(0);
    if (sibling && ctx.shared)
      total = member(1);
    for (int t = 0; fc && t < fc->P; ++t)
      s1.push_back(member(first + t));
  }
  if (sibling && ctx.shared) {
    Func dyTotal(ctx.name("dy_total"));
    dyTotal(c) = total;
    scheduleChannel(dyTotal, c, C, ctx.gpu);
    (*ctx.shared)[channelTotalKey(ctx.node.inputs[0])] = dyTotal;
  }
  if (fc) {
    Var t("t");
    Func S1(ctx.name("s1"));
    S1(c, t) = mux(t, s1);
    S1.compute_root();
    (*ctx.shared)[firstConvKey("s1", ctx.node.inputs[0])] = S1;
  }
  out(c) = centred * inv(c);
  scheduleChannel(out, c, C, ctx.gpu);
  return out;
}

Func lowerBatchNormBackwardInput(OpContext &ctx) {
  requireArity(ctx, 6, "(dy, x, stats, gamma, grad_gamma, grad_beta)");
  if (ctx.rank() < 2 || ctx.inputShapes[0] != ctx.shape ||
      ctx.inputShapes[1] != ctx.shape)
    throw LoweringError{"expects dy and x of the result's shape"};
  const int C = hdim(ctx.shape, 0);
  requireStats(ctx, 2, C);
  requireChannels(ctx, 3, C, "gamma");
  requireChannels(ctx, 4, C, "grad_gamma");
  requireChannels(ctx, 5, C, "grad_beta");
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  const float M = static_cast<float>(leadingCount(ctx.shape));
  Func dy = ctx.inputs[0], x = ctx.inputs[1], stats = ctx.inputs[2],
       gamma = ctx.inputs[3], dgamma = ctx.inputs[4], dbeta = ctx.inputs[5];
  // dx = gamma inv (dy - dbeta / M - (x - mean) inv dgamma / M)
  //    = p dy + q x + r per channel.
  Var c("c");
  Func p(ctx.name("p")), q(ctx.name("q")), r(ctx.name("r"));
  Expr inv = 1.0f / sqrt(stats(c, 1) + eps);
  Expr b = inv * dgamma(c) / M;
  p(c) = gamma(c) * inv;
  q(c) = -p(c) * b;
  r(c) = p(c) * (stats(c, 0) * b - dbeta(c) / M);
  for (Func f : {p, q, r})
    scheduleChannel(f, c, C, ctx.gpu);
  if (ctx.shared && !ctx.gpu) { // for a first layer's grad-filter
    (*ctx.shared)[firstConvKey("p", ctx.node.result)] = p;
    (*ctx.shared)[firstConvKey("q", ctx.node.result)] = q;
    (*ctx.shared)[firstConvKey("r", ctx.node.result)] = r;
  }
  std::vector<Var> v = makeVars(ctx.rank());
  Func out(ctx.resultName);
  out(v) =
      p(v[0]) * call(dy, asExprs(v)) + q(v[0]) * call(x, asExprs(v)) + r(v[0]);
  if (ctx.inlined) {
    // Computed per image inside its reader, the first layer's grad-filter
    // (Segments.cpp, Staging.h).
    if (ctx.staging)
      ctx.staging->producers.push_back({out, C});
  } else {
    scheduleElementwisePixelPairs(out, v, ctx.shape, ctx.gpu);
    if (ctx.staging && ctx.rank() == 4)
      ctx.staging->readers.push_back({out, LoopLevel(out, v[3])});
  }
  // The sum of dx over the leading dims (a conv bias before the batch norm
  // asks for it) in closed form, where grad_beta is the sum of this dy and
  // stats the batch statistics of this x: sum dx = p sum(dy) + q sum(x) +
  // M r = p grad_beta + q M mean + M r (zero in exact arithmetic), not a
  // pass over dx.
  if (ctx.shared && hasClosedFormTotal(ctx.fn, ctx.node)) {
    Func total(ctx.name("dx_total"));
    total(c) = p(c) * dbeta(c) + q(c) * (M * stats(c, 0)) + M * r(c);
    scheduleChannel(total, c, C, ctx.gpu);
    (*ctx.shared)[channelTotalKey(ctx.node.result)] = total;
  }
  return out;
}

//===- dropout, reparameterize --------------------------------------------===//

Func lowerDropout(OpContext &ctx) {
  requireArity(ctx, 2, "(x, seed)");
  if (ctx.inputShapes[0] != ctx.shape)
    throw LoweringError{"expects x of the result's shape"};
  const double rate = ctx.floatAttr("rate", 0.5);
  if (!(rate >= 0 && rate < 1))
    throw LoweringError{"rate must be in [0, 1)"};
  if (!isTraining(ctx) || rate == 0)
    return ctx.inputs[0]; // the identity
  std::vector<Var> v = makeVars(ctx.rank());
  Expr u = uniform(linearIndex(v, ctx.shape), noiseKey(ctx, ctx.inputs[1]));
  Func out(ctx.resultName);
  out(v) =
      select(u >= float(rate),
             call(ctx.inputs[0], asExprs(v)) * float(1.0 / (1.0 - rate)), 0.0f);
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerReparameterize(OpContext &ctx) {
  requireArity(ctx, 3, "(mean, logvar, seed)");
  if (ctx.inputShapes[0] != ctx.shape || ctx.inputShapes[1] != ctx.shape)
    throw LoweringError{"expects mean and logvar of the result's shape"};
  if (!isTraining(ctx))
    return ctx.inputs[0]; // the mean
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> at = asExprs(v);
  Expr eps = normal(linearIndex(v, ctx.shape), noiseKey(ctx, ctx.inputs[2]));
  Func out(ctx.resultName);
  out(v) = call(ctx.inputs[0], at) + exp(0.5f * call(ctx.inputs[1], at)) * eps;
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerReparameterizeGrad(OpContext &ctx) {
  requireArity(ctx, 3, "(dy, logvar, seed)");
  if (ctx.inputShapes[0] != ctx.shape || ctx.inputShapes[1] != ctx.shape)
    throw LoweringError{"expects dy and logvar of the result's shape"};
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> at = asExprs(v);
  Func out(ctx.resultName);
  if (!isTraining(ctx)) {
    out(v) = 0.0f * call(ctx.inputs[0], at);
  } else {
    Expr eps = normal(linearIndex(v, ctx.shape), noiseKey(ctx, ctx.inputs[2]));
    out(v) = call(ctx.inputs[0], at) * 0.5f *
             exp(0.5f * call(ctx.inputs[1], at)) * eps;
  }
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerTrainModeEpilogues(EpilogueTable &t) {
  // Inference batch norm on its producer's tile (mtl-fuse-epilogue marks it
  // only after a conv2d, dense or conv_transpose2d): at[0] is the channel.
  t["batch_norm"] = [](const OpContext &c, Expr v,
                       const std::vector<Expr> &at) {
    requireInference(c);
    auto [scale, shift] = inferenceAffine(c);
    return v * scale(at[0]) + shift(at[0]);
  };
}

void registerTrainModeOps(OpTable &t) {
  t["batch_norm"] = lowerBatchNorm;
  t["batch_stats"] = lowerBatchStats;
  t["batch_norm_train"] = lowerBatchNormTrain;
  t["batch_norm_update_stat"] = lowerBatchNormUpdateStat;
  t["batch_norm_grad_gamma"] = lowerBatchNormGradGamma;
  t["batch_norm_backward_input"] = lowerBatchNormBackwardInput;
  t["dropout"] = lowerDropout;
  t["reparameterize"] = lowerReparameterize;
  t["reparameterize_grad"] = lowerReparameterizeGrad;
}

} // namespace mtl::codegen
