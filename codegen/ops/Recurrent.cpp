//===- Recurrent.cpp - lstm, gru and their backward-through-time ops -----===//
//
// Halide order: x(f, t, n), w_input(j, f), w_hidden(j, m), bias(j), with
// j the gate axis (G = 4H for lstm, 3H for gru).
//
// 1. The input projection of every time step is one register-tiled GEMM
//    xp(j, t, n) = bias(j) + sum_f w_input(j, f) x(f, t, n)  (the [N*T, F] x
//    [F, G] product, hoisted out of the recurrence).
// 2. The recurrence is ONE Func S(n, k, t) holding a Tuple per hidden unit
//    k and step (t = 0 is the zero initial state, t + 1 is step t) with one
//    update over RDom (c, k, t): t outer and serial, then k, then the
//    chunk c of the hidden dim innermost. Each update reads only step
//    t - 1 (a Func per step would make 2T+ pipeline stages). The
//    matrix-vector product h_{t-1} w_hidden is summed over the hidden dim
//    in chunks of at most kChunk terms, unrolled within a chunk: chunk c
//    adds its partial sums into the gate slots of the Tuple, the last
//    chunk applies the nonlinearities (a select on the chunk index).
//    One unrolled sum of 4H terms per update made `mtlc build` of an
//    H = 128 lstm take ~74 s, nearly all in Halide's compile of that
//    expression. The batch n is a pure dim of the update and innermost in
//    memory: the update is vectorized over n (32 lanes, w_hidden
//    broadcast) and parallel over blocks of n.
// 3. Backward: the forward Tuple is recomputed, then a second Func B runs
//    the same scheme with t descending, reading step t + 1.
//
// CUDA: one GPU thread per sample runs its whole recurrence (serial over
// t and k); the GEMM and the elementwise stages use the usual schedules.
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

struct Dims {
  int N, T, F, H;
  bool sequences;
};

Dims checkRecurrent(OpContext &ctx, int gates, int biases, bool backward) {
  size_t want = 3 + biases + (backward ? 1 : 0);
  if (ctx.inputs.size() != want)
    throw LoweringError{"expects (x, w_input, w_hidden, biases" +
                        std::string(backward ? ", dy)" : ")")};
  const auto &x = ctx.inputShapes[0], &wi = ctx.inputShapes[1],
             &wh = ctx.inputShapes[2];
  if (x.size() != 3 || wh.size() != 2 || wi.size() != 2)
    throw LoweringError{"expects x [N, T, F], w_input [F, G], w_hidden [H, G]"};
  Dims d{int(x[0]), int(x[1]), int(x[2]), int(wh[0]), false};
  const int64_t G = int64_t(gates) * d.H;
  if (wh[1] != G || wi[0] != d.F || wi[1] != G)
    throw LoweringError{"inconsistent weight shapes"};
  for (int b = 0; b < biases; ++b)
    if (ctx.inputShapes[3 + b] != std::vector<int64_t>{G})
      throw LoweringError{"bias must be [G]"};
  d.sequences = ctx.ints("return_sequences", 1, {0})[0] != 0;
  if (backward) {
    std::vector<int64_t> dy = d.sequences ? std::vector<int64_t>{d.N, d.T, d.H}
                                          : std::vector<int64_t>{d.N, d.H};
    if (ctx.inputShapes.back() != dy)
      throw LoweringError{"dy must have the forward result's shape"};
  }
  return d;
}

/// xp(j, t, n) = bias(j) + sum_f w_input(j, f) x(f, t, n).
Func inputProjection(OpContext &ctx, const Dims &d, int G) {
  Func x = ctx.inputs[0], wi = ctx.inputs[1], bias = ctx.inputs[3];
  Var j("j"), t("t"), n("n");
  RDom r(0, d.F, ctx.name("rf"));
  Func acc(ctx.name("xp_acc")), xp(ctx.name("xp"));
  acc(j, t, n) = bias(j);
  acc(j, t, n) += wi(j, r) * x(r, t, n);
  xp(j, t, n) = acc(j, t, n);
  scheduleTiledContraction(xp, acc, {j, t, n}, {G, d.T, d.N}, r,
                           TileSpec{0, 1, 2, d.F % 4 == 0 ? 4 : 1}, ctx.gpu);
  return xp;
}

Expr sigmoid(Expr x) { return 1.0f / (1.0f + exp(-x)); }

/// The most terms of the hidden-dim sum unrolled into one update.
// 32 keeps the step time of one 4H-term sum (H = 128: 0.32 s per training
// step at batch 128 on 2 cores, measured before tanh was vectorized) and
// compiles in ~16 s instead of ~77 s; 16 compiles in ~9 s but steps 40 % slower
// (the nonlinearities are evaluated in every chunk's select).
constexpr int kChunk = 32;

/// The hidden dim [0, H) as C chunks of K (the last one may be shorter).
struct Chunks {
  int H, K, C;
  /// The first / not the last chunk (constants when there is one chunk).
  Expr first(Expr c) const { return C == 1 ? Internal::const_true() : c == 0; }
  Expr more(Expr c) const {
    return C == 1 ? Internal::const_false() : c < C - 1;
  }
};

/// One chunk for the gru: its chunked backward does not yet pass the
/// gradient checks (SequenceGradTest, H > kChunk), so it keeps the single
/// unrolled sum.
Chunks chunksOf(int H, bool chunked = true) {
  if (!chunked)
    return {H, H, 1};
  int C = (H + kChunk - 1) / kChunk;
  return {H, (H + C - 1) / C, C};
}

/// init + sum over chunk c of v(m) * w(m), as two interleaved chains (more
/// FMAs in flight); terms past H (a short last chunk) are zero.
Expr chunkDot(const Chunks &ch, Expr c, const std::function<Expr(Expr)> &v,
              const std::function<Expr(Expr)> &w, Expr init) {
  Expr a = init, b = 0.0f;
  const bool ragged = ch.K * ch.C != ch.H;
  for (int j = 0; j < ch.K; ++j) {
    Expr m = ch.C == 1 ? Expr(j) : c * ch.K + j;
    Expr term;
    if (ragged) {
      Expr mm = min(m, ch.H - 1);
      term = select(m < ch.H, v(mm) * w(mm), 0.0f);
    } else {
      term = v(m) * w(m);
    }
    if (j % 2 == 0)
      a = a + term;
    else
      b = b + term;
  }
  return a + b;
}

/// The update's value: `fin` on the last chunk, `part` before it.
Tuple lastChunk(const Chunks &ch, Expr c, const std::vector<Expr> &part,
                const std::vector<Expr> &fin) {
  if (ch.C == 1)
    return Tuple(fin);
  std::vector<Expr> v;
  for (size_t i = 0; i < fin.size(); ++i)
    v.push_back(select(ch.more(c), part[i], fin[i]));
  return Tuple(v);
}

/// Schedules a recurrence Func `s(n, k, t)` (pure init + one update over
/// `r` = (chunk, k, t)): compute_root, update vectorized over n and
/// parallel over blocks of n, t serial outside k outside the chunk.
void scheduleRecurrence(Func s, Var n, Var k, Var t, RDom r, const Dims &d,
                        bool gpu) {
  s.compute_root();
  Stage u = s.update();
  if (gpu) {
    gpuStage(s, {n, k, t}, {d.N, d.H, d.T + 2});
    Var bx("bx"), tx("tx");
    u.gpu_tile(n, bx, tx, std::min(d.N, 32), TailStrategy::GuardWithIf);
    return;
  }
  // A vector width that divides the batch: no tail (a guarded tail of a
  // Tuple-valued update left the last samples unwritten in Halide 14).
  // 32 samples per vector where they divide the batch (4 AVX2 registers:
  // each hidden weight broadcast serves 32 samples): the sequential_lstm
  // step on one thread 174-210 -> 157-176 ms against 16 (three interleaved
  // pairs); 8 (one register) was slower still, 155 against 99-115 ms on
  // two threads.
  const int vw = d.N % 32 == 0   ? 32
                 : d.N % 16 == 0 ? 16
                 : d.N % 8 == 0  ? 8
                 : d.N % 4 == 0  ? 4
                                 : 1;
  if (vw > 1)
    s.vectorize(n, vw);
  Var no("no"), ni("ni");
  u.split(n, no, ni, vw);
  u.reorder(ni, r.x, r.y, r.z, no);
  if (vw > 1)
    u.vectorize(ni);
  if ((d.N + vw - 1) / vw > 1)
    u.parallel(no);
}

/// Forward state of the lstm: S(n, k, t)[h, c, i, f, g, o], step t at
/// index t + 1, index 0 zero.
Func lstmForward(OpContext &ctx, const Dims &d, Func xp, Func wh) {
  const int H = d.H;
  const Chunks ch = chunksOf(H);
  Var n("n"), k("k"), t("t");
  Func S(ctx.name("state"));
  Expr z = 0.0f;
  S(n, k, t) = Tuple(z, z, z, z, z, z);
  RDom r(0, ch.C, 0, H, 1, d.T, ctx.name("r"));
  Expr mc = r.x, kk = r.y, tt = r.z;
  // Before the last chunk the gate slots 2..5 hold the partial sums.
  Expr pre[4];
  for (int q = 0; q < 4; ++q) {
    Expr x = xp(q * H + kk, tt - 1, n);
    Expr start = ch.C == 1 ? x : select(ch.first(mc), x, S(n, kk, tt)[2 + q]);
    pre[q] = chunkDot(
        ch, mc, [&](Expr m) { return S(n, m, tt - 1)[0]; },
        [&](Expr m) { return wh(q * H + kk, m); }, start);
  }
  Expr i = sigmoid(pre[0]), f = sigmoid(pre[1]), g = tanhOf(pre[2]),
       o = sigmoid(pre[3]);
  Expr c = f * S(n, kk, tt - 1)[1] + i * g;
  S(n, kk, tt) = lastChunk(ch, mc, {z, z, pre[0], pre[1], pre[2], pre[3]},
                           {o * tanhOf(c), c, i, f, g, o});
  scheduleRecurrence(S, n, k, t, r, d, ctx.gpu);
  return S;
}

/// Forward state of the gru: S(n, k, t)[h, r, z, n, hn] with hn the
/// hidden-side n pre-activation h_{t-1} W_hn + b_hn.
Func gruForward(OpContext &ctx, const Dims &d, Func xp, Func wh, Func bh) {
  const int H = d.H;
  const Chunks ch = chunksOf(H, /*chunked=*/false);
  Var n("n"), k("k"), t("t");
  Func S(ctx.name("state"));
  Expr z0 = 0.0f;
  S(n, k, t) = Tuple(z0, z0, z0, z0, z0);
  RDom r(0, ch.C, 0, H, 1, d.T, ctx.name("r"));
  Expr mc = r.x, kk = r.y, tt = r.z;
  // Before the last chunk slots 1, 2, 4 hold the partial hidden-side sums.
  const int slot[3] = {1, 2, 4};
  Expr hid[3];
  for (int q = 0; q < 3; ++q) {
    Expr b = bh(q * H + kk);
    Expr start = ch.C == 1 ? b : select(ch.first(mc), b, S(n, kk, tt)[slot[q]]);
    hid[q] = chunkDot(
        ch, mc, [&](Expr m) { return S(n, m, tt - 1)[0]; },
        [&](Expr m) { return wh(q * H + kk, m); }, start);
  }
  Expr rg = sigmoid(xp(kk, tt - 1, n) + hid[0]);
  Expr zg = sigmoid(xp(H + kk, tt - 1, n) + hid[1]);
  Expr ng = tanhOf(xp(2 * H + kk, tt - 1, n) + rg * hid[2]);
  Expr h = (1.0f - zg) * ng + zg * S(n, kk, tt - 1)[0];
  S(n, kk, tt) = lastChunk(ch, mc, {z0, hid[0], hid[1], z0, hid[2]},
                           {h, rg, zg, ng, hid[2]});
  scheduleRecurrence(S, n, k, t, r, d, ctx.gpu);
  return S;
}

/// The result y from the state's h component.
Func outputOf(OpContext &ctx, const Dims &d, Func S) {
  Func out(ctx.resultName);
  std::vector<Var> v = makeVars(ctx.rank());
  if (d.sequences)
    out(v[0], v[1], v[2]) = S(v[2], v[0], v[1] + 1)[0];
  else
    out(v[0], v[1]) = S(v[1], v[0], d.T)[0];
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

/// dy at (k, step t, n), zero where the forward result has no step t.
Expr dyAt(Func dy, const Dims &d, Expr k, Expr t, Expr n) {
  if (d.sequences)
    return dy(k, t, n);
  return select(t == d.T - 1, dy(k, n), 0.0f);
}

Func lowerLstm(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 4, 1, false);
  Func xp = inputProjection(ctx, d, 4 * d.H);
  Func S = lstmForward(ctx, d, xp, ctx.inputs[2]);
  return outputOf(ctx, d, S);
}

Func lowerGru(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 3, 2, false);
  Func xp = inputProjection(ctx, d, 3 * d.H);
  Func S = gruForward(ctx, d, xp, ctx.inputs[2], ctx.inputs[4]);
  return outputOf(ctx, d, S);
}

/// Backward state of the lstm: B(n, k, t)[dc, di, df, dg, do] for step t
/// (pre-activation gradients), B(., ., T) = 0.
Func lowerLstmBackward(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 4, 1, true);
  const int H = d.H, T = d.T;
  Func xp = inputProjection(ctx, d, 4 * H);
  Func wh = ctx.inputs[2], dy = ctx.inputs[4];
  Func S = lstmForward(ctx, d, xp, wh);
  Var n("n"), k("k"), t("t");
  const Chunks ch = chunksOf(H);
  Func B(ctx.name("bptt"));
  Expr z = 0.0f;
  B(n, k, t) = Tuple(z, z, z, z, z);
  RDom r(0, ch.C, 0, H, 0, T, ctx.name("rb"));
  Expr mc = r.x, kk = r.y, tt = T - 1 - r.z; // step tt, descending
  // dh_t = dy_t + sum_j dpre_{t+1}(j) w_hidden(k, j); before the last
  // chunk slot 0 holds its partial sum.
  Expr dh = dyAt(dy, d, kk, tt, n);
  if (ch.C > 1)
    dh = select(ch.first(mc), dh, B(n, kk, tt)[0]);
  for (int q = 0; q < 4; ++q)
    dh = chunkDot(
        ch, mc, [&](Expr m) { return B(n, m, tt + 1)[1 + q]; },
        [&](Expr m) { return wh(q * H + m, kk); }, dh);
  Tuple now = S(n, kk, tt + 1);
  Expr c = now[1], i = now[2], f = now[3], g = now[4], o = now[5];
  Expr cPrev = S(n, kk, tt)[1], fNext = S(n, kk, tt + 2)[3];
  Expr tc = tanhOf(c);
  Expr dc = dh * o * (1.0f - tc * tc) + B(n, kk, tt + 1)[0] * fNext;
  B(n, kk, tt) =
      lastChunk(ch, mc, {dh, z, z, z, z},
                {dc, dc * g * i * (1.0f - i), dc * cPrev * f * (1.0f - f),
                 dc * i * (1.0f - g * g), dh * tc * o * (1.0f - o)});
  scheduleRecurrence(B, n, k, t, r, d, ctx.gpu);

  // Packed result (j, t, n): 4H gate gradients, then h_{t-1}.
  Var j("j");
  Expr q = j / H, m = j % H;
  Expr gate =
      mux(q, {B(n, m, t)[1], B(n, m, t)[2], B(n, m, t)[3], B(n, m, t)[4]});
  Func out(ctx.resultName);
  out(j, t, n) =
      select(j < 4 * H, gate, S(n, clamp(j - 4 * H, 0, H - 1), t)[0]);
  scheduleElementwise(out, {j, t, n}, ctx.shape, ctx.gpu);
  return out;
}

/// Backward state of the gru: B(n, k, t)[dh, dr, dz, dn, dhn] for step t:
/// dh the gradient of h_t, the others of the pre-activations (dhn of the
/// hidden-side n pre-activation), B(., ., T) = 0.
Func lowerGruBackward(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 3, 2, true);
  const int H = d.H, T = d.T;
  Func xp = inputProjection(ctx, d, 3 * H);
  Func wh = ctx.inputs[2], dy = ctx.inputs[5];
  Func S = gruForward(ctx, d, xp, wh, ctx.inputs[4]);
  Var n("n"), k("k"), t("t");
  const Chunks ch = chunksOf(H, /*chunked=*/false);
  Func B(ctx.name("bptt"));
  Expr z0 = 0.0f;
  B(n, k, t) = Tuple(z0, z0, z0, z0, z0);
  RDom r(0, ch.C, 0, H, 0, T, ctx.name("rb"));
  Expr mc = r.x, kk = r.y, tt = T - 1 - r.z;
  // dh_t = dy_t + z_{t+1} dh_{t+1} + sum_j dhid_{t+1}(j) w_hidden(k, j);
  // before the last chunk slot 0 holds its partial sum.
  Expr dh = dyAt(dy, d, kk, tt, n) + S(n, kk, tt + 2)[2] * B(n, kk, tt + 1)[0];
  if (ch.C > 1)
    dh = select(ch.first(mc), dh, B(n, kk, tt)[0]);
  const int comp[3] = {1, 2, 4}; // hidden side: dr, dz, dhn
  for (int q = 0; q < 3; ++q)
    dh = chunkDot(
        ch, mc, [&](Expr m) { return B(n, m, tt + 1)[comp[q]]; },
        [&](Expr m) { return wh(q * H + m, kk); }, dh);
  Tuple now = S(n, kk, tt + 1);
  Expr rg = now[1], zg = now[2], ng = now[3], hn = now[4];
  Expr hPrev = S(n, kk, tt)[0];
  Expr dn = dh * (1.0f - zg) * (1.0f - ng * ng);
  Expr dz = dh * (hPrev - ng) * zg * (1.0f - zg);
  Expr dr = dn * hn * rg * (1.0f - rg);
  B(n, kk, tt) =
      lastChunk(ch, mc, {dh, z0, z0, z0, z0}, {dh, dr, dz, dn, dn * rg});
  scheduleRecurrence(B, n, k, t, r, d, ctx.gpu);

  // Packed (j, t, n): input side (dr, dz, dn), hidden side (dr, dz, dhn),
  // then h_{t-1}.
  Var j("j");
  Expr q = j / H, m = j % H;
  Tuple b = B(n, m, t);
  Expr v = mux(q, {b[1], b[2], b[3], b[1], b[2], b[4]});
  Func out(ctx.resultName);
  out(j, t, n) = select(j < 6 * H, v, S(n, clamp(j - 6 * H, 0, H - 1), t)[0]);
  scheduleElementwise(out, {j, t, n}, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerRecurrentOps(OpTable &t) {
  t["lstm"] = lowerLstm;
  t["gru"] = lowerGru;
  t["lstm_backward"] = lowerLstmBackward;
  t["gru_backward"] = lowerGruBackward;
}

} // namespace mtl::codegen
