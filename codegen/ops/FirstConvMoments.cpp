//===- FirstConvMoments.cpp - a first layer through its patches' moments -===//
//
// A first-layer conv (at most 9 taps per output: 3 x 3 over one input
// channel) recomputed in the batch norm after it (Segments.cpp) is linear
// in the P taps a_t of each output's input patch, c(co) = sum_t W(co, t)
// a_t with a bias tap a_P = 1 (W(co, P) = b(co)). Over the batch's M
// outputs its batch statistics and the part of its grad-filter that the
// batch norm's backward adds depend on the patches only through their
// moments
//   G(t, u) = sum a_t a_u    (t, u <= P; G(t, P) = sum a_t, G(P, P) = M),
// one pass over the 1-channel input (P^2 + P products per output, not the
// conv's Co P, and no per-channel work), summed in double:
//   mean(co) = W G(., P) / M,  E[c^2] = W G W^T / M,
// and with the batch norm's input gradient dc = p dy + q c + r per channel
// (batch_norm_backward_input),
//   dW(co, t) = sum dc a_t = p S1(co, t) + q (W G)(co, t) + r G(t, P),
// where S1(co, t) = sum dy a_t are P more channel sums in the batch norm's
// gamma pass (batch_norm_grad_gamma), which evaluates dy anyway. So the
// statistics no longer evaluate the conv, and the grad-filter's own pass
// over the batch -- the conv, the batch norm, the pool's and relu's
// gradients recomputed once more per element -- is gone.
//
// The conv's lowering publishes its operands in OpContext::shared; the
// batch norm's ops find them by value (firstConvOf), the gamma pass
// publishes S1 and the input gradient p, q, r, and the grad-filter takes
// the shortcut only where all are in its segment.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

Expr f64(double v) { return Internal::make_const(Float(64), v); }

std::vector<int64_t> intsOf(const kg::Node &nd, const char *k) {
  auto it = nd.ints.find(k);
  return it == nd.ints.end() ? std::vector<int64_t>{} : it->second;
}

} // namespace

std::string firstConvKey(const char *what, int v) {
  return std::string("first_conv.") + what + "." + std::to_string(v);
}

void publishFirstConv(OpContext &ctx, Func x, Func w, std::optional<Func> b) {
  if (!ctx.shared || ctx.gpu)
    return;
  const int v = ctx.node.result;
  const auto &xs = ctx.inputShapes[0];
  if (xs.size() != 4)
    return;
  const int H = xs[1], W = xs[2];
  // The input zero-padded once per kernel (a 1-channel image: ~1 MB for
  // the reference batch), so that the taps read it without a bounds test.
  Var c("c"), u("u"), y("y"), n("n");
  Func pad(ctx.name("first_pad"));
  pad(c, u, y, n) =
      select(u >= 0 && u < W && y >= 0 && y < H,
             x(c, clamp(u, 0, W - 1), clamp(y, 0, H - 1), n), 0.0f);
  pad.compute_root().vectorize(u, isa().lanes).parallel(n);
  (*ctx.shared)[firstConvKey("pad", v)] = pad;
  (*ctx.shared)[firstConvKey("w", v)] = w;
  if (b)
    (*ctx.shared)[firstConvKey("b", v)] = *b;
}

std::optional<FirstConv> firstConvOf(const OpContext &ctx, int v) {
  if (!ctx.shared || ctx.gpu || !ctx.shared->count(firstConvKey("pad", v)))
    return std::nullopt;
  const kg::Node *conv = kg::producerOf(ctx.fn, v);
  if (!conv || conv->op != "conv2d" || conv->inputs.size() < 2)
    return std::nullopt;
  const auto &xs = ctx.fn.values[conv->inputs[0]].shape;
  const auto &ws = ctx.fn.values[conv->inputs[1]].shape;
  const auto &ys = ctx.fn.values[v].shape;
  if (xs.size() != 4 || ws.size() != 4 || ys.size() != 4)
    return std::nullopt;
  FirstConv fc;
  fc.node = conv;
  fc.pad = ctx.shared->at(firstConvKey("pad", v));
  fc.w = ctx.shared->at(firstConvKey("w", v));
  if (auto b = ctx.shared->find(firstConvKey("b", v)); b != ctx.shared->end())
    fc.b = b->second;
  auto s = intsOf(*conv, "stride"), p = intsOf(*conv, "padding");
  fc.N = xs[0], fc.H = xs[1], fc.W = xs[2], fc.Ci = xs[3];
  fc.KH = ws[0], fc.KW = ws[1], fc.Co = ws[3], fc.Ho = ys[1], fc.Wo = ys[2];
  fc.sh = s.size() == 2 ? s[0] : 1, fc.sw = s.size() == 2 ? s[1] : 1;
  fc.ph = p.size() == 2 ? p[0] : 0, fc.pw = p.size() == 2 ? p[1] : 0;
  fc.P = fc.KH * fc.KW * fc.Ci;
  if (fc.P > 9)
    return std::nullopt;
  return fc;
}

Expr FirstConv::tap(Expr t, Expr x, Expr y, Expr n) const {
  Expr ci = t % Ci, kx = (t / Ci) % KW, ky = t / (Ci * KW);
  return pad(ci, x * sw + kx - pw, y * sh + ky - ph, n);
}

Expr FirstConv::weight(Expr co, int t) const {
  if (t == P)
    return b ? (*b)(co) : Expr(0.0f);
  return w(co, t % Ci, (t / Ci) % KW, t / (Ci * KW));
}

Func FirstConv::moments(OpContext &ctx) const {
  const std::string k = firstConvKey("moments", node->result);
  if (auto it = ctx.shared->find(k); it != ctx.shared->end())
    return it->second;
  // One vector of output columns at a time, every product of two taps
  // summed over the outputs.
  const int L = isa().lanes, XV = (Wo + L - 1) / L;
  Var l("l"), t("t"), u("u"), n("n");
  RDom r(0, XV, 0, Ho, ctx.name("moments_r"));
  Expr xx = r.x * L + l;
  Expr valid = xx < Wo;
  Func acc(ctx.name("moments_acc")), part(ctx.name("moments_part"));
  // u == P: the tap sums (the bias tap is 1). Per image in float (a few
  // hundred terms per lane), then over the lanes and images in double.
  acc(l, t, u, n) = 0.0f;
  acc(l, t, u, n) += select(
      valid, tap(t, xx, r.y, n) * select(u == P, 1.0f, tap(u, xx, r.y, n)),
      0.0f);
  part(l, t, u, n) = acc(l, t, u, n);
  RDom rs(0, L, 0, N, ctx.name("moments_rs"));
  Func g(ctx.name("moments"));
  Expr tc = min(t, P - 1), uc = min(u, P);
  Expr s = sum(cast<double>(part(rs.x, tc, uc, rs.y)));
  Expr st = sum(cast<double>(part(rs.x, min(u, P - 1), P, rs.y)));
  g(t, u) = select(t < P, s, u < P, st, f64(double(N) * Ho * Wo));

  // Per image (parallel) and tap t, a register tile of the P + 1 products
  // with every tap u (u unrolled: P + 1 vector accumulators, the u loads'
  // offsets constant), accumulated over the image's outputs.
  part.compute_root()
      .bound(l, 0, L)
      .bound(t, 0, P)
      .bound(u, 0, P + 1)
      .bound(n, 0, N)
      .reorder(l, u, t, n)
      .vectorize(l)
      .unroll(u)
      .parallel(n);
  acc.compute_at(part, t).vectorize(l).unroll(u);
  acc.update().reorder(l, u, r.x, r.y).vectorize(l).unroll(u);
  g.compute_root().bound(t, 0, P + 1).bound(u, 0, P + 1);
  (*ctx.shared)[k] = g;
  return g;
}

const kg::Node *foldedFilterGrad(const OpContext &ctx, int dy, int x) {
  auto fc = firstConvOf(ctx, x);
  if (!fc)
    return nullptr;
  for (const kg::Node &bn : ctx.fn.nodes) {
    if (bn.op != "batch_norm_backward_input" || bn.inputs.size() != 6 ||
        bn.inputs[0] != dy || bn.inputs[1] != x)
      continue;
    for (const kg::Node &f : ctx.fn.nodes)
      if (f.op == "conv2d_backward_filter" && f.inputs.size() == 2 &&
          f.inputs[1] == bn.result && f.inputs[0] == fc->node->inputs[0] &&
          intsOf(f, "stride") == intsOf(*fc->node, "stride") &&
          intsOf(f, "padding") == intsOf(*fc->node, "padding") &&
          !kg::isGeneralConv(f) &&
          ctx.fn.values[f.result].shape ==
              ctx.fn.values[fc->node->inputs[1]].shape)
        return &f;
  }
  return nullptr;
}

Func firstConvStats(OpContext &ctx, const FirstConv &fc) {
  Func g = fc.moments(ctx);
  Var c("c"), row("row");
  const double M = double(fc.N) * fc.Ho * fc.Wo;
  Expr mean = f64(0), ec2 = f64(0);
  for (int t = 0; t <= fc.P; ++t) {
    Expr wt = cast<double>(fc.weight(c, t));
    mean += wt * g(t, fc.P);
    Expr row_t = f64(0);
    for (int u = 0; u <= fc.P; ++u)
      row_t += cast<double>(fc.weight(c, u)) * g(t, u);
    ec2 += wt * row_t;
  }
  mean = mean / f64(M);
  Expr var = max(ec2 / f64(M) - mean * mean, f64(0));
  Func out(ctx.resultName);
  out(c, row) = cast<float>(select(row == 0, mean, var));
  out.compute_root();
  return out;
}

namespace {
Func filterGradFromMoments(OpContext &ctx, const FirstConv &fc, Func s1, Func p,
                           Func qf, Func rf) {
  Func g = fc.moments(ctx);
  Var co("co"), ci("ci"), kx("kx"), ky("ky");
  // dW(co, t) = p S1(co, t) + q (W G)(co, t) + r G(t, P), t = (ky KW + kx)
  // Ci + ci; the q and r terms cancel each other largely (the batch
  // norm's input gradient has zero mean): in double.
  std::vector<Expr> taps;
  for (int t = 0; t < fc.P; ++t) {
    Expr wg = f64(0);
    for (int u = 0; u <= fc.P; ++u)
      wg += cast<double>(fc.weight(co, u)) * g(t, u);
    taps.push_back(cast<float>(cast<double>(p(co)) * cast<double>(s1(co, t)) +
                               cast<double>(qf(co)) * wg +
                               cast<double>(rf(co)) * g(t, fc.P)));
  }
  Func out(ctx.resultName);
  out(co, ci, kx, ky) = mux((ky * fc.KW + kx) * fc.Ci + ci, taps);
  out.compute_root();
  return out;
}
} // namespace

Func firstConvFilterGrad(OpContext &ctx) {
  // dy is a batch_norm_backward_input whose gamma pass (same dy and x)
  // published S1, and whose p, q, r are published too.
  const kg::Node *bn = kg::producerOf(ctx.fn, ctx.node.inputs[1]);
  if (!bn || bn->op != "batch_norm_backward_input" ||
      foldedFilterGrad(ctx, bn->inputs[0], bn->inputs[1]) != &ctx.node)
    return Func();
  const auto &sh = *ctx.shared;
  auto s1 = sh.find(firstConvKey("s1", bn->inputs[0]));
  auto p = sh.find(firstConvKey("p", bn->result)),
       q = sh.find(firstConvKey("q", bn->result)),
       r = sh.find(firstConvKey("r", bn->result));
  if (s1 == sh.end() || p == sh.end() || q == sh.end() || r == sh.end())
    return Func();
  return filterGradFromMoments(ctx, *firstConvOf(ctx, bn->inputs[1]),
                               s1->second, p->second, q->second, r->second);
}

} // namespace mtl::codegen
