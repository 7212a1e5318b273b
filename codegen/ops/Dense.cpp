//===- Dense.cpp - dense and its two gradients ---------------------------===//
//
// All three are one register-tiled GEMM C(j, i) = sum_k A(j, k) * B(k, i)
// with j contiguous in A and C (vectorized) and B read as broadcasts:
//   forward   y(m, n)  = w(m, k)  * x(k, n)
//   grad-in   dx(k, n) = wT(k, m) * dy(m, n)
//   grad-w    dw(m, k) = dy(m, n) * x(k, n)
// Halide order: x(k, n), w(m, k), y(m, n).
//
// Large GEMMs (the fused head layers: 128 x 3200 x 2016) follow the Goto
// recipe, measured in process CPU time on one Zen 4 core (TOOLCHAIN.md):
// the forward keeps a JT x I accumulator panel per column panel and runs k
// in blocks (reductionBlock) with each A block packed contiguous: 45 -> 110
// GFLOP/s. Grad-in on AVX-512 vectorizes the batch instead (batchGemm: w is
// read in place, no transposed packing of it); elsewhere it is packedGemm
// with w transposed block by block (12 -> 90 GFLOP/s on Zen 4). Grad-w has
// a short reduction (the batch) and instead packs x into row tiles so the
// broadcasts stream: 45 -> 105 GFLOP/s. (Zen 4 figures; this VM's are in
// docs/performance.md.)
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <algorithm>
#include <optional>

using namespace Halide;

namespace mtl::codegen {
namespace {

void check2(const std::vector<int64_t> &s, const char *what) {
  if (s.size() != 2)
    throw LoweringError{std::string(what) + " must be rank 2"};
}

/// out(j, i) = init(j) + sum_{r<K} a(j, r) * b(r, i)
Func gemm(OpContext &ctx, std::function<Expr(Expr, Expr)> a,
          std::function<Expr(Expr, Expr)> b, std::optional<Func> init, int J,
          int I, int K) {
  Var j("j"), i("i");
  RDom r(0, K, ctx.name("r"));
  Func acc(ctx.name("acc"));
  acc(j, i) = init ? (*init)(j) : Expr(0.0f);
  acc(j, i) += a(j, r) * b(r, i);
  Func out(ctx.resultName);
  // A fused epilogue (activation) is applied to the register tile.
  out(j, i) = ctx.applyEpilogue(acc(j, i), {j, i});
  scheduleTiledContraction(out, acc, {j, i}, {J, I}, r,
                           TileSpec{0, 1, -1, K % 4 == 0 ? 4 : 1}, ctx.gpu);
  return out;
}

/// Register tile of the blocked GEMMs: NV vectors along j times IT rows of i
/// (16-24 zmm accumulators on AVX-512, 8-12 with AVX2's 16 registers), IT
/// dividing I so the unrolled rows need no guards. Preferred: a tile whose
/// panel width divides J (the last panel is shifted inwards, recomputing the
/// overlap: 48-wide panels over J = 64 computed 96 columns). With `shiftOk`,
/// a strong tile with under 1/16 of J recomputed comes before the weak ones
/// (2x8; 2x4 on AVX2): the forward over J = 1568 gains ~10 % with 3x8 (1 %
/// recomputed).
/// Returns false when the GEMM is too small to profit.
bool blockedTile(int J, int I, int K, int &NV, int &IT, int minK = 256,
                 bool shiftOk = false) {
  const int VW = isa().lanes;
  if (J < 3 * VW || K < minK || I < 4 || (long)J * I * K < (1 << 22))
    return false;
  static const std::vector<std::pair<int, int>> tiles32 = {
      {3, 8}, {4, 5}, {4, 4}, {3, 6}, {2, 8}};
  static const std::vector<std::pair<int, int>> tiles16 = {
      {2, 6}, {3, 4}, {2, 5}, {2, 4}, {1, 8}};
  const auto &tiles = isa().vregs >= 32 ? tiles32 : tiles16;
  // The strong tiles: 16-24 accumulators (AVX-512), 10-12 (AVX2).
  const size_t strong = isa().vregs >= 32 ? 4 : 3;
  auto pick = [&](size_t n, bool shift) {
    for (size_t t = 0; t < n; ++t) {
      auto [nv, it] = tiles[t];
      const int jt = VW * nv, waste = (J + jt - 1) / jt * jt - J;
      if (I % it == 0 && (shift ? 16 * waste <= J : waste == 0)) {
        NV = nv, IT = it;
        return true;
      }
    }
    return false;
  };
  return pick(strong, false) || (shiftOk && pick(strong, true)) ||
         pick(tiles.size(), false) || pick(tiles.size(), true);
}

/// The reduction block: with many column panels (J >= 1024) the smallest
/// divisor of K in [160, 224], else one of ~128 that divides K, else 128
/// with a guard. Measured on one thread (interleaved rounds): the recon_fc
/// forward (J = 1568, K = 3200) 94 -> 102 GFLOP/s from 128 to 160, its
/// grad-input (J = 3200, K = 1568) 74 -> 82 from 112 to 224; the heads'
/// forward (J = 128-256) is best at 128 (112 vs 101 at 200 for J = 128).
int reductionBlock(int K, int J) {
  if (J >= 1024)
    for (int kb = 160; kb <= 224; kb += 4)
      if (K % kb == 0)
        return kb;
  for (int kb = 128; kb >= 64; kb -= 16)
    if (K % kb == 0)
      return kb;
  return std::min(K, 128);
}

/// Reductions from this length on take the k-blocked GEMM (packedGemm) in
/// a weight gradient.
constexpr int kLongReduction = 1024;

/// One product of a blocked GEMM: sum_r A(j, r) B(r, i) over r < K, A being
/// `a(j, r)` or, when `aTransposed`, `a(r, j)` (packed and transposed block
/// by block).
struct GemmTerm {
  Func a;
  bool aTransposed;
  std::function<Expr(Expr, Expr)> b;
  int K;
};

/// Forward / grad-in: out(j, i) = init(j, i) + sum over the terms of their
/// products, each term one update of the same accumulator panel (several
/// terms: the grad-inputs a join sums, denseBackwardInputSum).
Func packedGemm(OpContext &ctx, const std::vector<GemmTerm> &terms,
                std::function<Expr(Expr, Expr)> init, int J, int I, int NV,
                int IT) {
  Var j("j"), i("i");
  Func acc(ctx.name("acc"));
  acc(j, i) = init ? init(j, i) : Expr(0.0f);
  std::vector<Func> packs, srcs;
  std::vector<RDom> rs;
  for (GemmTerm t : terms) { // a copy: Func::in is not const
    RDom r(0, t.K, ctx.name("r"));
    Func apack(ctx.name("apack"));
    apack(j, i) = t.aTransposed ? t.a(i, j) : t.a(j, i);
    // apack's own wrapper of a: other consumers of a (the forward's packing)
    // must not share its schedule.
    srcs.push_back(t.aTransposed ? t.a.in(apack) : t.a);
    if (I % IT == 0 && J >= 1024) {
      // The broadcast operand packed once per call into IT-row tiles
      // (bpack(ii, r, io) = b(r, io IT + ii)): a register tile's IT
      // broadcasts per r are then adjacent, one stream instead of IT rows
      // (12.8 KB apart in recon_fc's x). Worth it with many column panels
      // to amortize the copy: in-step on one thread, eight interleaved
      // pairs, recon_fc's forward 20.6 -> 19.4 ms and the join 25.1 ->
      // 24.3 (means; 7 of 8 pairs faster each), two threads unchanged; the
      // heads' forward (J = 256) slower (3.4 -> 3.7 ms).
      Var bi("bi"), br("br"), bo("bo");
      Func bpack(ctx.name("bpack"));
      bpack(bi, br, bo) = t.b(br, bo * IT + bi);
      bpack.compute_root().vectorize(bi, std::min(IT, 4)).parallel(bo);
      acc(j, i) += apack(j, r) * bpack(i % IT, r, i / IT);
    } else {
      acc(j, i) += apack(j, r) * t.b(r, i);
    }
    packs.push_back(apack);
    rs.push_back(r);
  }
  Func out(ctx.resultName);
  out(j, i) = ctx.applyEpilogue(acc(j, i), {j, i});
  const int VW = isa().lanes, JT = VW * NV;
  Var jo("jo"), ji("ji"), jv("jv"), jvo("jvo"), io("io"), ii("ii");
  Var ih("ih"), il("il");
  out.compute_root()
      .split(j, jo, ji, JT, TailStrategy::ShiftInwards)
      .reorder(ji, i, jo)
      .vectorize(ji, VW);
  // One column panel (a narrow head, J = 64) gives one task: its rows in
  // two halves instead, each packing the panel for itself.
  if (J <= JT && I % (2 * IT) == 0)
    out.split(i, ih, il, I / 2).reorder(ji, il, jo, ih).parallel(ih);
  else
    out.parallel(jo);
  acc.compute_at(out, jo).vectorize(j, VW);
  for (size_t h = 0; h < terms.size(); ++h) {
    const int KB = reductionBlock(terms[h].K, J);
    RVar rko("rko" + std::to_string(h)), rki("rki" + std::to_string(h));
    acc.update(h)
        .split(rs[h], rko, rki, KB)
        .split(i, io, ii, IT)
        .split(j, jvo, jv, VW)
        .reorder(jv, jvo, ii, rki, io, rko)
        .vectorize(jv)
        .unroll(jvo)
        .unroll(ii)
        .unroll(rki, 4);
    Func apack = packs[h], src = srcs[h];
    apack
        .compute_at(acc, rko) // the stage whose loop is named rko<h>
        .store_in(MemoryType::Heap);
    if (terms[h].aTransposed) {
      // VW x VW blocks: vector loads along w's rows, transposed in registers.
      // Each group of VW rows is swept along its KB contiguous elements
      // before the next group (VW streams, not all JT rows interleaved):
      // the join on AVX2, 1 thread in-step, 24.4-31.7 -> 23.2-26.5 ms (9
      // interleaved pairs); its packing 26 -> 17 % of the kernel's samples.
      Var jx("jx"), rx("rx"), j2("j2"), r2("r2");
      apack.tile(j, i, jx, rx, j2, r2, VW, VW)
          .reorder(j2, r2, rx, jx)
          .vectorize(j2)
          .unroll(r2);
      src.compute_at(apack, rx)
          .vectorize(src.args()[0], VW)
          .unroll(src.args()[1]);
    } else {
      apack.vectorize(j, VW);
    }
  }
  return out;
}

/// One product of a batch-vectorized GEMM: sum_{r<K} x(r, n) * b(r, i), x
/// in Halide order (r innermost: the layer input or dy) and b the weights.
struct BatchTerm {
  Func x;
  std::function<Expr(Expr, Expr)> b;
  int K;
};

/// Whether batchGemm fits: AVX-512 (32 registers hold the 4 x 6 tile and
/// its operands), a batch of whole vectors and at least one column block.
bool batchGemmFits(int N, int I, int K) {
  const int VW = isa().lanes;
  const int NVB = N / VW; // its tile: 2-4 vectors of the batch
  return isa().vregs >= 32 && N % VW == 0 && (NVB % 2 == 0 || NVB % 3 == 0) &&
         N <= 1024 && I >= 96 && K >= 16 && (long)N * I * K >= (1 << 22);
}

/// out(i, n) = init(i, n) + sum over the terms of sum_r xT(n, r) * b(r, i),
/// computed with the batch n vectorized and stored transposed (i innermost,
/// as every activation). The weights are read in place, as broadcasts: the
/// i-vectorized form (packedGemm) must pack them, and for the grad-input
/// (w transposed) LLVM lowers the packing's 16 x 16 shuffles to broadcasts
/// and blends that cost more than the block's FMAs (the four heads'
/// grad-inputs of fashion_detect: 40-59 % of peak; 71-82 % with the packing
/// replaced by constants; 76-82 % in this form). Only x (N x K, small) and
/// the result are transposed. Register tile: 4 vectors of n x 6 columns
/// (24 accumulators; 8 x 3 needs 33 registers and spills); blocks of 96
/// columns are the parallel tasks, their accumulator panel (N x 96) stays
/// in L1/L2, each x block (64 x KB) in L1. Measured on one thread, the
/// join's shapes: KB = 64 (128: -5 %), panels of 96 (48: -15 %, 192: -10 %).
Func batchGemm(OpContext &ctx, const std::vector<BatchTerm> &terms,
               std::function<Expr(Expr, Expr)> init, int N, int I) {
  const int VW = isa().lanes, NVB = N / VW;
  int NV = 2;
  for (int d = 4; d >= 2; --d)
    if (NVB % d == 0) {
      NV = d;
      break;
    }
  const int IT = NV == 4 ? 6 : 8, PANEL = 96;
  Var i("i"), n("n"), r("r");
  Func acc(ctx.name("acc"));
  acc(n, i) = init ? init(i, n) : Expr(0.0f);
  std::vector<Func> xts, srcs;
  std::vector<RDom> rs;
  for (BatchTerm t : terms) { // a copy: Func::in is not const
    Func xt(ctx.name("xt"));
    xt(n, r) = t.x(r, n);
    srcs.push_back(t.x.in(xt));
    RDom rd(0, t.K, ctx.name("r"));
    acc(n, i) += xt(n, rd) * t.b(rd, i);
    xts.push_back(xt);
    rs.push_back(rd);
  }
  Func out(ctx.resultName);
  out(i, n) = ctx.applyEpilogue(acc(n, i), {i, n});
  Var io("io"), ii("ii"), ix("ix"), nx("nx"), i2("i2"), n2("n2");
  // 16 x 16 blocks stored transposed; the panels are the parallel tasks.
  out.compute_root()
      .split(i, io, ii, PANEL, TailStrategy::ShiftInwards)
      .tile(ii, n, ix, nx, i2, n2, VW, VW)
      .reorder(i2, n2, ix, nx, io)
      .vectorize(i2)
      .unroll(n2)
      .parallel(io);
  acc.compute_at(out, io).vectorize(n, VW);
  Var it("it"), iu("iu"), nb("nb"), nr("nr"), nvo("nvo"), nv("nv");
  for (size_t h = 0; h < terms.size(); ++h) {
    const int K = terms[h].K;
    // The reduction block: a divisor of K in [32, 64], else 64 with a guard.
    int KB = std::min(K, 64);
    for (int d = 64; d >= 32; --d)
      if (K % d == 0) {
        KB = d;
        break;
      }
    RVar rko("rko" + std::to_string(h)), rki("rki" + std::to_string(h));
    acc.update(h)
        .split(rs[h], rko, rki, KB)
        .split(i, it, iu, IT)
        .split(n, nb, nr, NV * VW)
        .split(nr, nvo, nv, VW)
        .reorder(nv, nvo, iu, rki, it, nb, rko)
        .vectorize(nv)
        .unroll(nvo)
        .unroll(iu);
    if (KB % 4 == 0)
      acc.update(h).unroll(rki, 4);
    // x transposed once per call (N x K), in 16 x 16 blocks.
    Var rx("rx"), r2("r2");
    xts[h]
        .compute_root()
        .tile(n, r, nx, rx, n2, r2, VW, VW)
        .vectorize(n2)
        .unroll(r2);
    srcs[h]
        .compute_at(xts[h], nx)
        .vectorize(srcs[h].args()[0], VW)
        .unroll(srcs[h].args()[1]);
  }
  return out;
}

/// Grad-w: out(j, i) = sum_r A(j, r) B(r, i) with a short r (the batch); B
/// is packed into IT-wide row tiles so each tile's broadcasts are contiguous
/// (unless J is narrow, below).
/// Blocks of IB row tiles are the outer loop: the block's B tiles stay in L1
/// while A (dy, L2) streams past them, and each A panel serves IB tiles
/// before the next is loaded (one tile per panel: 91 -> 107 GFLOP/s on the
/// recon_fc shape with IB = 4; row tiles outer beat A-panel-outer 105 to 80
/// on Zen 4). The blocks are the parallel tasks.
Func rowPackedGemm(OpContext &ctx, Func a, std::function<Expr(Expr, Expr)> b,
                   int J, int I, int K, int NV, int IT) {
  Var j("j"), i("i"), bi("bi"), br("br"), bo("bo");
  Func bpack(ctx.name("bpack"));
  bpack(bi, br, bo) = b(br, bo * IT + bi);
  RDom r(0, K, ctx.name("r"));
  Func acc(ctx.name("acc"));
  acc(j, i) = 0.0f;
  acc(j, i) += a(j, r) * bpack(i % IT, r, i / IT);
  Func out(ctx.resultName);
  out(j, i) = ctx.applyEpilogue(acc(j, i), {j, i});
  const int VW = isa().lanes, JT = VW * NV;
  const int IB = (I / IT) % 4 == 0 ? 4 : (I / IT) % 2 == 0 ? 2 : 1;
  Var jo("jo"), ji("ji"), io("io"), ii("ii"), iob("iob"), ioi("ioi");
  out.compute_root()
      .split(j, jo, ji, JT, TailStrategy::ShiftInwards)
      .split(i, io, ii, IT)
      .split(io, iob, ioi, IB)
      .reorder(ji, ii, ioi, jo, iob)
      .vectorize(ji, VW)
      .unroll(ji)
      .unroll(ii)
      .parallel(iob);
  acc.compute_at(out, ioi).vectorize(j, VW).unroll(j).unroll(i);
  acc.update().reorder(j, i, r).vectorize(j, VW).unroll(j).unroll(i).unroll(
      r, K % 4 == 0 ? 4 : 1);
  // Each task packs its own block of B tiles: one parallel loop per call,
  // not two (a separate parallel packing pass first: recon_fc's grad-weight
  // 8.2-8.5 -> 5.9-6.7 ms on 2 threads, interleaved; 1 thread unchanged).
  // A packed element of B serves J / VW vector FMAs: with 8 or fewer the
  // packing (a scalar copy per element) costs more than the broadcasts'
  // strided rows, which the block's loop keeps in L1. Read in place there:
  // the 64-wide head's grad-weight 73.7 -> 97 % of the peak on AVX-512,
  // 81 -> 92 % on AVX2, the 128-wide 82 -> 85-89 % on AVX-512 (Zen 5, one
  // thread, two interleaved pairs); 16 vectors (J = 256 on AVX-512, 128 on
  // AVX2) gain nothing either way.
  if (J > 8 * VW)
    bpack.compute_at(out, iob);
  return out;
}

Func lowerDense(OpContext &ctx) {
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (x, w) or (x, w, b)"};
  check2(ctx.inputShapes[0], "x");
  check2(ctx.inputShapes[1], "w");
  int N = ctx.inputShapes[0][0], K = ctx.inputShapes[0][1],
      M = ctx.inputShapes[1][1];
  if (ctx.inputShapes[1][0] != K || ctx.shape != std::vector<int64_t>{N, M})
    throw LoweringError{"inconsistent dense shapes"};
  Func x = ctx.inputs[0], w = ctx.inputs[1];
  std::optional<Func> b;
  if (ctx.inputs.size() == 3)
    b = ctx.inputs[2];
  int NV, IT;
  if (!ctx.gpu && blockedTile(M, N, K, NV, IT, 256, true))
    return packedGemm(ctx,
                      {{w, false,
                        [=](Expr k, Expr n) {
                          return call(x, {k, n});
                        },
                        K}},
                      b ? std::function<Expr(Expr, Expr)>(
                              [b = *b](Expr m, Expr) { return b(m); })
                        : nullptr,
                      M, N, NV, IT);
  return gemm(
      ctx,
      [=](Expr m, Expr k) {
        return call(w, {m, k});
      },
      [=](Expr k, Expr n) {
        return call(x, {k, n});
      },
      b, M, N, K);
}

Func lowerDenseBackwardInput(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (dy, w)"};
  check2(ctx.inputShapes[0], "dy");
  check2(ctx.inputShapes[1], "w");
  int N = ctx.inputShapes[0][0], M = ctx.inputShapes[0][1],
      K = ctx.inputShapes[1][0];
  if (ctx.inputShapes[1][1] != M || ctx.shape != std::vector<int64_t>{N, K})
    throw LoweringError{"inconsistent dense_backward_input shapes"};
  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  int NV, IT;
  if (ctx.inlined && ctx.shared && !ctx.gpu &&
      blockedTile(K, N, M, NV, IT, 64, true)) {
    // Summed by its join in one kernel (denseBackwardInputSum): hand the
    // operands over. The product below is never realized: nothing reads it.
    (*ctx.shared)[gradInputOperandKey(ctx.node.result, "dy")] = dy;
    (*ctx.shared)[gradInputOperandKey(ctx.node.result, "w")] = w;
    Var k("k"), n("n");
    RDom r(0, M, ctx.name("r"));
    Func dx(ctx.resultName);
    dx(k, n) = sum(dy(r, n) * w(r, k));
    return dx;
  }
  if (!ctx.gpu && batchGemmFits(N, K, M))
    return batchGemm(ctx,
                     {{dy,
                       [=](Expr m, Expr k) {
                         return call(w, {m, k});
                       },
                       M}},
                     nullptr, N, K);
  if (!ctx.gpu && blockedTile(K, N, M, NV, IT, 64, true))
    return packedGemm(ctx,
                      {{w, true,
                        [=](Expr m, Expr n) {
                          return call(dy, {m, n});
                        },
                        M}},
                      nullptr, K, N, NV, IT);
  // Transposed copy keeps the vectorized operand contiguous.
  Var k("k"), m("m");
  Func wt(ctx.name("wt"));
  wt(k, m) = w(m, k);
  scheduleElementwise(wt, {k, m}, {M, K}, ctx.gpu);
  return gemm(
      ctx,
      [=](Expr k, Expr m) {
        return call(wt, {k, m});
      },
      [=](Expr m, Expr n) {
        return call(dy, {m, n});
      },
      std::nullopt, K, N, M);
}

Func lowerDenseBackwardWeight(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (x, dy)"};
  check2(ctx.inputShapes[0], "x");
  check2(ctx.inputShapes[1], "dy");
  int N = ctx.inputShapes[0][0], K = ctx.inputShapes[0][1],
      M = ctx.inputShapes[1][1];
  if (ctx.inputShapes[1][0] != N || ctx.shape != std::vector<int64_t>{K, M})
    throw LoweringError{"inconsistent dense_backward_weight shapes"};
  Func x = ctx.inputs[0], dy = ctx.inputs[1];
  int NV, IT;
  // AVX2: a 3 x 4 tile with the last panel shifted inwards (12
  // accumulators) beats the exact 2 x 5 (10): recon_fc's grad-weight 66-70
  // -> 68-76 % of peak, the heads' 71-79 -> 75-89 % (one thread,
  // interleaved). Not measured on AVX-512, which keeps its exact tiles.
  const bool shiftOk = isa().vregs < 32;
  // A long reduction (the lstm's weights: N = batch x steps = 3584) would
  // stream dy's whole column panel (N rows 4 M bytes apart) per row tile:
  // there the forward's k-blocked GEMM, each dy block packed once per panel.
  if (!ctx.gpu && N >= kLongReduction && blockedTile(M, K, N, NV, IT, 1, true))
    return packedGemm(ctx,
                      {{dy, false,
                        [=](Expr n, Expr k) {
                          return call(x, {k, n});
                        },
                        N}},
                      nullptr, M, K, NV, IT);
  if (!ctx.gpu && blockedTile(M, K, N, NV, IT, 1, shiftOk))
    return rowPackedGemm(
        ctx, dy,
        [=](Expr n, Expr k) {
          return call(x, {k, n});
        },
        M, K, N, NV, IT);
  return gemm(
      ctx,
      [=](Expr m, Expr n) {
        return call(dy, {m, n});
      },
      [=](Expr n, Expr k) {
        return call(x, {k, n});
      },
      std::nullopt, M, K, N);
}

} // namespace

std::string gradInputOperandKey(int value, const char *which) {
  return "dense_backward_input." + std::to_string(value) + "." + which;
}

Func denseBackwardInputSum(OpContext &ctx) {
  if (ctx.gpu || !ctx.shared || ctx.shape.size() != 2)
    return Func();
  const int N = ctx.shape[0], K = ctx.shape[1];
  struct Product {
    Func dy, w;
    int M; // dy's width
  };
  std::vector<Product> products;
  std::vector<Func> rest;
  int sumM = 0;
  for (size_t q = 0; q < ctx.node.inputs.size(); ++q) {
    int v = ctx.node.inputs[q];
    auto dy = ctx.shared->find(gradInputOperandKey(v, "dy"));
    auto w = ctx.shared->find(gradInputOperandKey(v, "w"));
    if (dy == ctx.shared->end() || w == ctx.shared->end()) {
      rest.push_back(ctx.inputs[q]);
      continue;
    }
    int M = -1; // from the grad-input node's dy operand
    if (const kg::Node *nd = kg::producerOf(ctx.fn, v);
        nd && !nd->inputs.empty())
      M = static_cast<int>(ctx.fn.values[nd->inputs[0]].shape[1]);
    if (M <= 0)
      throw LoweringError{"inline grad-input of unknown width"};
    products.push_back({dy->second, w->second, M});
    sumM += M;
  }
  if (products.empty())
    return Func();
  std::function<Expr(Expr, Expr)> init;
  if (!rest.empty())
    init = [rest](Expr k, Expr n) {
      Expr s = call(rest[0], {k, n});
      for (size_t q = 1; q < rest.size(); ++q)
        s += call(rest[q], {k, n});
      return s;
    };
  if (batchGemmFits(N, K, sumM)) {
    std::vector<BatchTerm> terms;
    for (const Product &p : products)
      terms.push_back({p.dy,
                       [w = p.w](Expr m, Expr k) {
                         return call(w, {m, k});
                       },
                       p.M});
    return batchGemm(ctx, terms, init, N, K);
  }
  int NV, IT;
  if (!blockedTile(K, N, sumM, NV, IT, 64, true))
    throw LoweringError{"inline grad-inputs too small to block"};
  std::vector<GemmTerm> terms;
  for (const Product &p : products)
    terms.push_back({p.w, true,
                     [dy = p.dy](Expr m, Expr n) {
                       return call(dy, {m, n});
                     },
                     p.M});
  return packedGemm(ctx, terms, init, K, N, NV, IT);
}

void registerDenseOps(OpTable &t) {
  t["dense"] = lowerDense;
  t["dense_backward_input"] = lowerDenseBackwardInput;
  t["dense_backward_weight"] = lowerDenseBackwardWeight;
}

} // namespace mtl::codegen
