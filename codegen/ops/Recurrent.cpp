//===- Recurrent.cpp - lstm, gru and their backward-through-time ops -----===//
//
// Halide order: x(f, t, n), w_input(j, f), w_hidden(j, m), bias(j), with
// j the gate axis (G = 4H for lstm, 3H for gru). The states are stored by
// sample tile, the tile's samples innermost (TiledState: S(ni, k, no, t)):
// their updates are vectorized over the tile's samples.
//
// lstm: the recurrence is ONE Func S(n, k, t) holding a Tuple per sample,
// hidden unit k and step (t = 0 the zero initial state, t + 1 step t),
// with one update over RDom (m, k, t): t outer and serial, then k, then
// the term m of the step's sums. Each step's gate sums take K = F + H terms
// (x_t w_input, then h_{t-1} w_hidden: the input projection is part of the
// step), the 4 gates' partial sums in Tuple slots, m unrolled (up to
// kMaxUnrolled terms) so LLVM keeps them in registers and the selects on m
// fold; the last term applies the nonlinearities. Two vectors of samples
// per update (8 accumulators), parallel over sample tiles: the samples'
// recurrences are independent, so there is no barrier per step. A Func per
// step (the textbook GEMM + cell) made Halide's lowering quadratic in the
// stages (48 s for T = 28; docs/performance.md, session 18).
// Backward: a second Func B runs the same scheme with t descending,
// reading step t + 1, and the forward's state: saved by lstm_state or
// gru_state (its Tuple copied out; mtl-save-recurrent-state hands it to
// the backward) or, without that operand, recomputed (ForwardState).
//
// gru: the same scheme, the step's sums in 4 partial sums (r, z, the input
// side's n, the hidden side's n: r multiplies only the latter), and its
// backward's dh sum in 3 (one per gate).
//
// CUDA: one GPU thread per sample runs its whole recurrence (serial over
// t and k); the GEMM and the elementwise stages use the usual schedules.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <optional>

using namespace Halide;

namespace mtl::codegen {
namespace {

struct Dims {
  int N, T, F, H;
  bool sequences;
};

/// `saved`: a backward that may take the forward's state as a last operand.
Dims checkRecurrent(OpContext &ctx, int gates, int biases, bool backward,
                    bool saved = false) {
  size_t want = 3 + biases + (backward ? 1 : 0);
  if (ctx.inputs.size() != want && !(saved && ctx.inputs.size() == want + 1))
    throw LoweringError{"expects (x, w_input, w_hidden, biases" +
                        std::string(backward ? ", dy" : "") +
                        std::string(saved ? "[, state])" : ")")};
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
    if (ctx.inputShapes[3 + biases] != dy)
      throw LoweringError{"dy must have the forward result's shape"};
  }
  return d;
}

Expr sigmoid(Expr x) { return 1.0f / (1.0f + exp(-x)); }

/// The most terms of an lstm or gru step's sum unrolled: all of them up to this
/// (F + H = 156 for examples/sequential_lstm.toml), so the selects on the
/// term's index (input or hidden side, first or last term) fold and the
/// gates' partial sums stay in registers; beyond it, 8 per iteration.
constexpr int kMaxUnrolled = 256;

/// A recurrence's state (a Tuple per sample, unit and step), stored by
/// sample tile: f(ni, k, no, t) is sample n = no NI + ni. A step's sums
/// over the units read one tile's rows NI x 4 bytes apart, contiguous;
/// stored batch innermost, f(n, k, t), they were N x 4 bytes apart (512
/// for a batch of 128: every 8th set of the L1 cache, whose 64 lines of
/// them then held 4 KB of the step's 16-32 KB).
struct TiledState {
  Func f;
  int NI = 1;
  Var ni{"ni"}, no{"no"};
  /// The sample of the pure vars ni, no.
  Expr n() const { return no * NI + ni; }
  /// Sample n's entry at unit k, step t (n any expression).
  FuncRef at(Expr n, Expr k, Expr t) const {
    return f(n % NI, std::move(k), n / NI, std::move(t));
  }
  /// The pure vars' own sample's entry at unit k, step t.
  FuncRef here(Expr k, Expr t) const {
    return f(ni, std::move(k), no, std::move(t));
  }
};

/// Schedules a recurrence `s` (pure init over (ni, k, no, t) + one update
/// over `r`, a stepDomain): compute_root, the update vectorized over the
/// tile's NI samples and parallel over the tiles (each sample's recurrence
/// is independent: no barrier per step), t serial outside k. The term m of
/// the step's `terms` sums is innermost (inside a unit tile's units) and
/// unrolled (all terms up to kMaxUnrolled, else 8).
void scheduleRecurrence(const TiledState &s, RDom r, const Dims &d, int terms,
                        bool gpu) {
  Func f = s.f;
  f.compute_root();
  Stage u = f.update();
  Var ni = s.ni, no = s.no, k = f.args()[1], t = f.args()[3];
  if (gpu) { // NI = 1: one thread per sample
    Var bx("bx"), tx("tx");
    gpuStage(f, {no, k, t}, {d.N, d.H, d.T + 2});
    u.gpu_tile(no, bx, tx, std::min(d.N, 32), TailStrategy::GuardWithIf);
    return;
  }
  const int lanes = s.NI;
  if (lanes > 1)
    f.vectorize(ni);
  // The initial values (every step's; 11-16 MB for the lstm example) on
  // both cores, not one.
  f.parallel(t);
  RVar mo("mo"), mi("mi");
  const int U = terms <= kMaxUnrolled ? terms : terms % 8 == 0 ? 8 : 1;
  if (r.dimensions() == 4) { // (kk, m, ko, t): a tile of units
    if (U > 1)
      u.split(r[1], mo, mi, U)
          .reorder(ni, r[0], mi, mo, r[2], r[3], no)
          .unroll(mi);
    else
      u.reorder(ni, r[0], r[1], r[2], r[3], no);
    u.unroll(r[0]);
  } else if (U > 1)
    u.split(r.x, mo, mi, U).reorder(ni, mi, mo, r.y, r.z, no).unroll(mi);
  else
    u.reorder(ni, r.x, r.y, r.z, no);
  if (lanes > 1)
    u.vectorize(ni);
  if (d.N / lanes > 1)
    u.parallel(no);
}

/// The widest of `widths` that divides the batch (no tail: a guarded tail
/// of a Tuple-valued update left the last samples unwritten in Halide 14),
/// or 1.
int samplesPerUpdate(int N, std::initializer_list<int> widths) {
  for (int w : widths)
    if (N % w == 0)
      return w;
  return 1;
}

/// Samples per update of a recurrence's sums (lstm, gru, their backward),
/// its states' tile: two vectors (with 4 partial sums, 8 accumulators; the
/// gru's backward 3); one on a GPU (a thread per sample).
int recurrenceLanes(int N, bool gpu) {
  const int lanes = isa().lanes;
  return gpu ? 1 : samplesPerUpdate(N, {2 * lanes, lanes, 8, 4});
}

/// The update domain of a recurrence's sums: term m < M of unit k < H at
/// step t (t0 <= t < t0 + T; the backward maps it to t descending). With
/// `pairs` and 32 vector registers a tile of 2 units shares each term's
/// loads, r = (kk, m, ko, t) with k = 2 ko + kk (kk innermost, unrolled):
/// a unit's 8 accumulators become 16, each term's 8 gate-gradient vectors
/// (the lstm's backward) serve 2 units. One thread (Zen 5, AVX-512,
/// sequential_lstm): its backward kernel 9.3-9.5 -> 6.7-6.9 ms, the gru's
/// forward 3.3-3.5 -> 3.0-3.1. With AVX2's 16 registers the unit stays
/// alone (r = (m, k, t)).
struct StepDomain {
  RDom r;
  Expr m, k, t;
};
StepDomain stepDomain(int M, int H, int t0, int T, bool pairs,
                      const std::string &name) {
  const int U = pairs && isa().vregs >= 32 && H % 2 == 0 ? 2 : 1;
  if (U == 1) {
    RDom r(0, M, 0, H, t0, T, name);
    return {r, r.x, r.y, r.z};
  }
  RDom r({{0, U}, {0, M}, {0, H / U}, {t0, T}}, name);
  return {r, r[1], r[2] * U + r[0], r[3]};
}

/// A step's operands, as the sums over its F + H terms read them: x
/// transposed to xT(n, f, t) (the batch innermost) and wp(q, m, k), unit
/// k's `gates` weights for term m contiguous (w_input's for m < F, then
/// w_hidden's).
struct StepOperands {
  Func xT, wp;
};
StepOperands stepOperands(OpContext &ctx, const Dims &d, int gates) {
  const int H = d.H, F = d.F;
  Func x = ctx.inputs[0], wi = ctx.inputs[1], wh = ctx.inputs[2];
  Var n("n"), k("k"), t("t"), q("q"), m("m"), f("f");
  StepOperands s{Func(ctx.name("x_t")), Func(ctx.name("w_packed"))};
  s.xT(n, f, t) = x(f, t, n);
  scheduleElementwise(s.xT, {n, f, t}, {d.T, F, d.N}, ctx.gpu);
  s.wp(q, m, k) = select(m < F, wi(q * H + k, min(m, F - 1)),
                         wh(q * H + k, clamp(m - F, 0, H - 1)));
  scheduleElementwise(s.wp, {q, m, k}, {H, F + H, gates}, ctx.gpu);
  return s;
}

/// Forward state of the lstm: S(n, k, t) = (h, c, i, f, g, o) of step
/// t - 1 (t = 0 the zero initial state), stored by sample tile. The update
/// over (m, k, t) sums, for gate q of unit k, the step's K = F + H terms:
/// x_t(m) w_input(q H + k, m) for m < F, then h_{t-1}(m - F) w_hidden(q H +
/// k, m - F), seeded with the bias (the input projection is part of the
/// step: no [T, N, 4H] buffer that the recurrence would read back cold);
/// its last term applies the nonlinearities.
TiledState lstmForward(OpContext &ctx, const Dims &d) {
  const int H = d.H, T = d.T, F = d.F, K = F + H;
  Func bias = ctx.inputs[3];
  auto [xT, wp] = stepOperands(ctx, d, 4);
  Var k("k"), t("t");
  TiledState S{Func(ctx.name("state")), recurrenceLanes(d.N, ctx.gpu)};
  Expr z = 0.0f;
  S.f(S.ni, k, S.no, t) = Tuple(std::vector<Expr>{z, z, z, z, z, z});
  // Units one at a time: in pairs the unrolled sums (156 terms x 2 units x
  // 8 FMAs for sequential_lstm, ~25 KB of loop) ran slower, 4.4-4.5 -> 4.8-4.9
  // ms for the kernel on one thread (Zen 5); the gru's 6 FMAs a term gain.
  auto [r, mm, kk, tt] = stepDomain(K, H, 1, T, false, ctx.name("r"));
  Tuple cur = S.here(kk, tt);
  Expr v = select(mm < F, xT(S.n(), min(mm, F - 1), tt - 1),
                  S.here(clamp(mm - F, 0, H - 1), tt - 1)[0]);
  Expr part[4];
  for (int g = 0; g < 4; ++g)
    part[g] = select(mm == 0, bias(g * H + kk), cur[2 + g]) + v * wp(g, mm, kk);
  Expr i = sigmoid(part[0]), fg = sigmoid(part[1]), g = tanhOf(part[2]),
       o = sigmoid(part[3]);
  Expr c = fg * S.here(kk, tt - 1)[1] + i * g;
  Expr more = mm < K - 1;
  S.f(S.ni, kk, S.no, tt) = Tuple(std::vector<Expr>{
      select(more, cur[0], o * tanhOf(c)), select(more, cur[1], c),
      select(more, part[0], i), select(more, part[1], fg),
      select(more, part[2], g), select(more, part[3], o)});
  scheduleRecurrence(S, r, d, K, ctx.gpu);
  return S;
}

/// Forward state of the gru: S(n, k, t)[h, r, z, n, hn] of step t - 1
/// (t = 0 the zero initial state), hn the hidden-side n pre-activation
/// h_{t-1} W_hn + b_hn. The lstm's scheme: the update over (m, k, t) sums
/// each step's F + H terms, x_t(m) for m < F then h_{t-1}(m - F), into
/// four partial sums in the r, z, n and hn slots (r and z take both sides;
/// the input side's n goes to the n slot, the hidden side's to hn: r
/// multiplies only the latter), seeded with the biases at m = 0; the last
/// term applies the nonlinearities.
TiledState gruForward(OpContext &ctx, const Dims &d) {
  const int H = d.H, T = d.T, F = d.F, K = F + H;
  Func bi = ctx.inputs[3], bh = ctx.inputs[4];
  auto [xT, wp] = stepOperands(ctx, d, 3);
  Var k("k"), t("t");
  TiledState S{Func(ctx.name("state")), recurrenceLanes(d.N, ctx.gpu)};
  Expr z = 0.0f;
  S.f(S.ni, k, S.no, t) = Tuple(std::vector<Expr>{z, z, z, z, z});
  auto [r, mm, kk, tt] = stepDomain(K, H, 1, T, !ctx.gpu, ctx.name("r"));
  Tuple cur = S.here(kk, tt);
  Expr input = mm < F;
  Expr v = select(input, xT(S.n(), min(mm, F - 1), tt - 1),
                  S.here(clamp(mm - F, 0, H - 1), tt - 1)[0]);
  Expr first = mm == 0;
  Expr pr = select(first, bi(kk) + bh(kk), cur[1]) + v * wp(0, mm, kk);
  Expr pz = select(first, bi(H + kk) + bh(H + kk), cur[2]) + v * wp(1, mm, kk);
  Expr pn = select(first, bi(2 * H + kk), cur[3]) +
            select(input, v * wp(2, mm, kk), 0.0f);
  Expr phn = select(first, bh(2 * H + kk), cur[4]) +
             select(input, 0.0f, v * wp(2, mm, kk));
  Expr rg = sigmoid(pr), zg = sigmoid(pz);
  Expr ng = tanhOf(pn + rg * phn);
  Expr h = (1.0f - zg) * ng + zg * S.here(kk, tt - 1)[0];
  Expr more = mm < K - 1;
  S.f(S.ni, kk, S.no, tt) =
      Tuple(std::vector<Expr>{select(more, cur[0], h), select(more, pr, rg),
                              select(more, pz, zg), select(more, pn, ng), phn});
  scheduleRecurrence(S, r, d, K, ctx.gpu);
  return S;
}

/// Schedules a result out(j, ..., n) read from a state stored samples
/// innermost (a transposition): 8 samples per iteration, unrolled inside
/// each vector of j, so the 8 rows a vector gathers from serve all 8. With
/// the samples outermost instead (scheduleElementwise), each row was read
/// again per sample, from memory: the lstm backward's packed result took
/// 9 ms of a 71 ms step on one thread. A result of several `part`-wide
/// parts (the backward's gates, each from its own component) has its parts
/// unrolled, so a vector's part is a constant: with j / part computed per
/// lane, every vector gathered all 5 components and selected (the lstm
/// backward's result 12.7 -> 7.8 % of the step's samples, one thread).
void scheduleFromBatchInner(Func out, const std::vector<Var> &v,
                            const std::vector<int64_t> &shape, bool gpu,
                            int part = 0) {
  const int rank = int(v.size()), lanes = isa().lanes;
  if (gpu || rank < 2 || hdim(shape, rank - 1) % 8 != 0 ||
      hdim(shape, 0) < lanes) {
    scheduleElementwise(out, v, shape, gpu);
    return;
  }
  Var no("no"), ni("ni"), jo("jo"), ji("ji"), jq("jq");
  const bool parts =
      part > 0 && part % lanes == 0 && hdim(shape, 0) % part == 0;
  out.compute_root();
  if (parts)
    out.split(v[0], jq, v[0], part);
  out.split(v[0], jo, ji, lanes, TailStrategy::ShiftInwards)
      .split(v[rank - 1], no, ni, 8);
  std::vector<VarOrRVar> order = {ji, ni, jo};
  if (parts)
    order.push_back(jq);
  for (int d = 1; d + 1 < rank; ++d)
    order.push_back(v[d]);
  order.push_back(no);
  out.reorder(order).vectorize(ji).unroll(ni).parallel(no);
  if (parts)
    out.unroll(jq);
}

/// The result y from the state's h component.
Func outputOf(OpContext &ctx, const Dims &d, const TiledState &S) {
  Func out(ctx.resultName);
  std::vector<Var> v = makeVars(ctx.rank());
  if (d.sequences)
    out(v[0], v[1], v[2]) = S.at(v[2], v[0], v[1] + 1)[0];
  else
    out(v[0], v[1]) = S.at(v[1], v[0], d.T)[0];
  scheduleFromBatchInner(out, v, ctx.shape, ctx.gpu);
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
  return outputOf(ctx, d, lstmForward(ctx, d));
}

Func lowerGru(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 3, 2, false);
  return outputOf(ctx, d, gruForward(ctx, d));
}

/// The components of an lstm_state (h, c, i, f, g, o) and a gru_state (h,
/// r, z, n, hn): [T + 1, comps, H, N], Halide (n, k, s, t).
constexpr int kLstmComponents = 6, kGruComponents = 5;

/// lstm_state / gru_state: the forward state's Tuple copied out (one buffer
/// for the backward to read; a Tuple-valued output would be one per
/// component).
Func stateOf(OpContext &ctx, const Dims &d, const TiledState &S, int comps) {
  Var n("n"), k("k"), c("c"), t("t");
  std::vector<Expr> values;
  for (int s = 0; s < comps; ++s)
    values.push_back(S.at(n, k, t)[s]);
  Func out(ctx.resultName);
  out(n, k, c, t) = mux(c, values);
  if (ctx.gpu) {
    scheduleElementwise(out, {n, k, c, t}, {d.T + 1, comps, d.H, d.N}, true);
    return out;
  }
  // A tile's samples per vector (n % NI, n / NI then fold), the components
  // unrolled (the mux folds).
  Var no("no"), nv("nv");
  out.compute_root()
      .split(n, no, nv, S.NI)
      .reorder(nv, c, k, no, t)
      .vectorize(nv)
      .unroll(c)
      .parallel(t);
  return out;
}

Func lowerLstmState(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 4, 1, false);
  return stateOf(ctx, d, lstmForward(ctx, d), kLstmComponents);
}

Func lowerGruState(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 3, 2, false);
  return stateOf(ctx, d, gruForward(ctx, d), kGruComponents);
}

/// lstm_output / gru_output: the cell's result, h (component 0) of every
/// step or of the last, read from its saved state.
Func outputFromState(OpContext &ctx, int comps) {
  const auto &s = ctx.inputShapes.at(0);
  if (ctx.inputs.size() != 1 || s.size() != 4 || s[1] != comps)
    throw LoweringError{"expects a saved state [T + 1, " +
                        std::to_string(comps) + ", H, N]"};
  Dims d{int(s[3]), int(s[0] - 1), 0, int(s[2]),
         ctx.ints("return_sequences", 1, {0})[0] != 0};
  Func st = ctx.inputs[0];
  Func out(ctx.resultName);
  std::vector<Var> v = makeVars(ctx.rank());
  if (d.sequences)
    out(v[0], v[1], v[2]) = st(v[2], v[0], 0, v[1] + 1);
  else
    out(v[0], v[1]) = st(v[1], v[0], 0, d.T);
  scheduleFromBatchInner(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerLstmOutput(OpContext &ctx) {
  return outputFromState(ctx, kLstmComponents);
}
Func lowerGruOutput(OpContext &ctx) {
  return outputFromState(ctx, kGruComponents);
}

/// The forward state a backward reads: saved (an lstm_state / gru_state
/// operand, its steps 0..T; step T + 1 reads as 0) or recomputed (S).
struct ForwardState {
  std::optional<TiledState> S;
  Func saved;
  int T = 0;
  /// Component s of sample n, unit k, step t.
  Expr operator()(Expr n, Expr k, Expr t, int s) const {
    if (S)
      return S->at(n, k, t)[s];
    return select(t <= T, saved(n, k, s, min(t, T)), 0.0f);
  }
  /// Component s at the sample of backward B's pure vars (B tiled as S:
  /// the recomputed S read at the same (ni, no), no n % NI, n / NI).
  Expr here(const TiledState &B, Expr k, Expr t, int s) const {
    if (S)
      return S->f(B.ni, std::move(k), B.no, std::move(t))[s];
    return (*this)(B.n(), std::move(k), std::move(t), s);
  }
  /// The recomputed state's rows for unit k + 2 fetched while the backward
  /// `B` (over `r`) runs unit k: its last term reads them cold (11 MB for
  /// the lstm example, written t ascending, read t descending). One
  /// thread, five interleaved pairs: the lstm's backward kernel 40.1-62.8
  /// -> 38.0-52.8 ms (session 18, AVX2). Not the saved state's: there the
  /// prefetches cost more than they hide (Zen 5, one thread, three pairs:
  /// the lstm step 14.8-15.0 -> 13.9-14.2 ms without them; two threads
  /// 7.4-8.0 -> 7.0-7.3).
  void prefetchFor(Func B, RDom r, bool gpu) const {
    if (gpu || !S)
      return;
    RVar unit = r.dimensions() == 4 ? r[2] : r.y;
    B.update().prefetch(S->f, unit, unit, 2,
                        PrefetchBoundStrategy::NonFaulting);
  }
};

/// A backward's forward state: its operand `operand` where given, else
/// `forward` recomputed.
ForwardState forwardStateOf(OpContext &ctx, const Dims &d, size_t operand,
                            TiledState (*forward)(OpContext &, const Dims &)) {
  ForwardState s;
  s.T = d.T;
  if (ctx.inputs.size() > operand)
    s.saved = ctx.inputs[operand];
  else
    s.S = forward(ctx, d);
  return s;
}

/// A backward's packed result (j, t, n): gate q's gradient of unit m at j =
/// q H + m, from B's component `comps[q]`, then h_{t-1} from the forward
/// state. Each gate's H columns are one unrolled part of the schedule, so a
/// vector reads one component (scheduleFromBatchInner).
Func packedGradients(OpContext &ctx, const Dims &d, const TiledState &B,
                     const ForwardState &state, const std::vector<int> &comps) {
  const int H = d.H, G = static_cast<int>(comps.size());
  Var j("j"), t("t"), n("n");
  Tuple b = B.at(n, j % H, t);
  std::vector<Expr> gates;
  for (int c : comps)
    gates.push_back(b[c]);
  Func out(ctx.resultName);
  out(j, t, n) = select(j < G * H, mux(j / H, gates),
                        state(n, clamp(j - G * H, 0, H - 1), t, 0));
  scheduleFromBatchInner(out, {j, t, n}, ctx.shape, ctx.gpu, H);
  return out;
}

/// Backward state of the lstm: B(n, k, t) = (dc, di, df, dg, do) of step
/// t (pre-activation gradients; B(., ., T) = 0) and the 4 partial sums of
/// dh_t = dy_t + sum_q sum_m dpre_{t+1}(q, m) w_hidden(q H + m, k), one per
/// gate (4 independent FMA chains per vector), seeded with dy_t. The same
/// scheme as the forward with t descending.
Func lowerLstmBackward(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 4, 1, true, true);
  const int H = d.H, T = d.T;
  Func wh = ctx.inputs[2], dy = ctx.inputs[4];
  // The forward state, saved or recomputed (step T + 1's forget gate reads
  // as 0).
  ForwardState state = forwardStateOf(ctx, d, 5, lstmForward);
  Var k("k"), t("t");
  TiledState B{Func(ctx.name("bptt")), recurrenceLanes(d.N, ctx.gpu)};
  Expr z = 0.0f;
  Expr tc0 = clamp(t, 0, T - 1);
  Expr dy0 = select(t < T, dyAt(dy, d, k, tc0, B.n()), 0.0f);
  B.f(B.ni, k, B.no, t) = Tuple(std::vector<Expr>{z, z, z, z, z, dy0, z, z, z});
  auto [r, mm, kk, ts] = stepDomain(H, H, 0, T, !ctx.gpu, ctx.name("rb"));
  Expr tt = T - 1 - ts; // step tt, descending
  Tuple cur = B.here(kk, tt);
  Expr part[4];
  for (int q = 0; q < 4; ++q)
    part[q] = cur[5 + q] + B.here(mm, tt + 1)[1 + q] * wh(q * H + mm, kk);
  Expr dh = (part[0] + part[1]) + (part[2] + part[3]);
  Expr c = state.here(B, kk, tt + 1, 1), i = state.here(B, kk, tt + 1, 2),
       f = state.here(B, kk, tt + 1, 3), g = state.here(B, kk, tt + 1, 4),
       o = state.here(B, kk, tt + 1, 5);
  Expr cPrev = state.here(B, kk, tt, 1), fNext = state.here(B, kk, tt + 2, 3);
  Expr tc = tanhOf(c);
  Expr dc = dh * o * (1.0f - tc * tc) + B.here(kk, tt + 1)[0] * fNext;
  std::vector<Expr> fin = {dc,
                           dc * g * i * (1.0f - i),
                           dc * cPrev * f * (1.0f - f),
                           dc * i * (1.0f - g * g),
                           dh * tc * o * (1.0f - o),
                           z,
                           z,
                           z,
                           z};
  Expr more = likely(mm < H - 1);
  std::vector<Expr> v;
  for (int s = 0; s < 9; ++s)
    v.push_back(select(more, s < 5 ? cur[s] : part[s - 5], fin[s]));
  B.f(B.ni, kk, B.no, tt) = Tuple(v);
  scheduleRecurrence(B, r, d, H, ctx.gpu);
  state.prefetchFor(B.f, r, ctx.gpu);

  // Packed result: the 4H gate gradients (di, df, dg, do), then h_{t-1}.
  return packedGradients(ctx, d, B, state, {1, 2, 3, 4});
}

/// Backward state of the gru: B(n, k, t)[dh, dr, dz, dn, dhn] for step t
/// (dh the gradient of h_t, the others of the pre-activations, dhn of the
/// hidden-side n pre-activation; B(., ., T) = 0) and 3 partial sums of
/// sum_q sum_m dhid_{t+1}(q, m) w_hidden(q H + m, k) (one per gate: 3
/// independent FMA chains), the first seeded with dy_t. The lstm's scheme,
/// t descending; the last term adds z_{t+1} dh_{t+1}. (One unrolled
/// 3 H-term sum per update compiled in ~50 s for H = 128.)
Func lowerGruBackward(OpContext &ctx) {
  Dims d = checkRecurrent(ctx, 3, 2, true, true);
  const int H = d.H, T = d.T;
  Func wh = ctx.inputs[2], dy = ctx.inputs[5];
  // The forward state, saved or recomputed (tiled as B: B's sample tile
  // reads S's at the same (ni, no)).
  ForwardState state = forwardStateOf(ctx, d, 6, gruForward);
  Var k("k"), t("t");
  TiledState B{Func(ctx.name("bptt")), recurrenceLanes(d.N, ctx.gpu)};
  Expr z0 = 0.0f;
  Expr tc0 = clamp(t, 0, T - 1);
  Expr dy0 = select(t < T, dyAt(dy, d, k, tc0, B.n()), 0.0f);
  B.f(B.ni, k, B.no, t) =
      Tuple(std::vector<Expr>{z0, z0, z0, z0, z0, dy0, z0, z0});
  auto [r, mm, kk, ts] = stepDomain(H, H, 0, T, !ctx.gpu, ctx.name("rb"));
  Expr tt = T - 1 - ts; // step tt, descending
  Tuple cur = B.here(kk, tt);
  const int comp[3] = {1, 2, 4}; // hidden side: dr, dz, dhn
  Expr part[3];
  for (int q = 0; q < 3; ++q)
    part[q] = cur[5 + q] + B.here(mm, tt + 1)[comp[q]] * wh(q * H + mm, kk);
  Expr dh = (part[0] + part[1]) + part[2] +
            state.here(B, kk, tt + 2, 2) * B.here(kk, tt + 1)[0];
  Expr rg = state.here(B, kk, tt + 1, 1), zg = state.here(B, kk, tt + 1, 2),
       ng = state.here(B, kk, tt + 1, 3), hn = state.here(B, kk, tt + 1, 4);
  Expr hPrev = state.here(B, kk, tt, 0);
  Expr dn = dh * (1.0f - zg) * (1.0f - ng * ng);
  Expr dz = dh * (hPrev - ng) * zg * (1.0f - zg);
  Expr dr = dn * hn * rg * (1.0f - rg);
  std::vector<Expr> fin = {dh, dr, dz, dn, dn * rg};
  Expr more = mm < H - 1;
  std::vector<Expr> next;
  for (int s = 0; s < 8; ++s)
    next.push_back(
        select(more, s < 5 ? cur[s] : part[s - 5], s < 5 ? fin[s] : z0));
  B.f(B.ni, kk, B.no, tt) = Tuple(next);
  scheduleRecurrence(B, r, d, H, ctx.gpu);
  state.prefetchFor(B.f, r, ctx.gpu);

  // Packed result: input side (dr, dz, dn), hidden side (dr, dz, dhn),
  // then h_{t-1}.
  return packedGradients(ctx, d, B, state, {1, 2, 3, 1, 2, 4});
}

} // namespace

void registerRecurrentOps(OpTable &t) {
  t["lstm"] = lowerLstm;
  t["gru"] = lowerGru;
  t["lstm_backward"] = lowerLstmBackward;
  t["lstm_state"] = lowerLstmState;
  t["lstm_output"] = lowerLstmOutput;
  t["gru_state"] = lowerGruState;
  t["gru_output"] = lowerGruOutput;
  t["gru_backward"] = lowerGruBackward;
}

} // namespace mtl::codegen
