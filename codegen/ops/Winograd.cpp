//===- Winograd.cpp - 3x3 convolutions by Winograd's F(m x m, 3x3) -------===//
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016):
// each m x m block of outputs ("tile") is Y = A^T [(G g G^T) . (B^T d B)] A
// for its alpha x alpha input patch d (alpha = m + 2), so a 3 x 3 stride-1
// convolution becomes alpha^2 independent GEMMs, one per point of the
// transformed tile,
//   M[e](co, t) = sum_ci U[e](co, ci) V[e](ci, t),
// plus cheap additions. F(4x4, 3x3) takes 36 / 144 = 1 / 4 the multiplies
// of the direct convolution, F(2x2, 3x3) 16 / 36 = 1 / 2.25 (its
// transforms' entries are 0, +-1 and 1/2; F(4x4)'s reach 5 and 1/24, and
// its rounding error is ~10 times F(2x2)'s, as Lavin & Gray report: 1e-4
// relative against 1e-5, WinogradTest). An output that divides into 4 x 4
// tiles takes F(4x4), else one of 2 x 2 tiles F(2x2), or F(4x4) over
// tiles that overhang it where that is cheaper (forwardAlgorithm). The forward
// conv and the grad-input (the conv of dy with the flipped, transposed filter)
// take F(m x m, 3x3); the grad-filter F(3x3, m x m) (3 taps from m x m blocks
// of dy), whose GEMMs reduce over the tiles. On the CPU, the reference
// network's conv2 (20 x 20) takes F(4x4) for all three, conv3 (10 x 10)
// F(2x2), recon_conv1 (14 x 14) F(4x4) over 4 x 4 overhanging tiles for
// the forward and grad-input on AVX2, F(3x3, 2x2) for its grad-filter.
//
// Forward schedule, per image (parallel over the batch) and per row of
// tiles -- or the whole image at once where its transformed tiles fit in
// L2: the input patches are transformed (V: alpha^2 x Ci x tiles), the
// GEMMs run with a register tile of co vectors x tiles (the same tile as
// the direct conv's), and the inverse transform writes the m output rows
// of each row of tiles through the fused epilogue. U (alpha^2 x Co x Ci) is
// computed once per call, packed in panels of the register tile's output
// channels. The grad-filter's: winogradFilterGrad below.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Staging.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

using Matrix = std::vector<std::vector<float>>;

/// One of Winograd's minimal filtering algorithms F(m, r): m outputs of an
/// r-tap correlation from alpha = m + r - 1 inputs, y = A^T [(G g) . (B^T
/// d)]; in two dimensions Y = A^T [(G g G^T) . (B^T d B)] A.
struct Algorithm {
  int m, r, alpha;
  Matrix BT, G, AT; // alpha x alpha, alpha x r, m x alpha
};

const float h = 0.5f, q4 = 1.0f / 4, s6 = 1.0f / 6, s12 = 1.0f / 12,
            s24 = 1.0f / 24, t3 = 1.0f / 3;
// F(2, 3), Lavin & Gray's: entries 0, +-1, +-1/2.
const Algorithm F23{2,
                    3,
                    4,
                    {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                    {{1, 0, 0}, {h, h, h}, {h, -h, h}, {0, 0, 1}},
                    {{1, 1, 1, 0}, {0, 1, -1, -1}}};
// F(4, 3), points 0, +-1, +-2 and infinity (Lavin & Gray).
const Algorithm F43{4,
                    3,
                    6,
                    {{4, 0, -5, 0, 1, 0},
                     {0, -4, -4, 1, 1, 0},
                     {0, 4, -4, -1, 1, 0},
                     {0, -2, -1, 2, 1, 0},
                     {0, 2, -1, -2, 1, 0},
                     {0, 4, 0, -5, 0, 1}},
                    {{q4, 0, 0},
                     {-s6, -s6, -s6},
                     {-s6, s6, -s6},
                     {s24, s12, s6},
                     {s24, -s12, s6},
                     {0, 0, 1}},
                    {{1, 1, 1, 1, 1, 0},
                     {0, 1, -1, 2, -2, 0},
                     {0, 1, 1, 4, 4, 0},
                     {0, 1, -1, 8, -8, 1}}};
// The grad-filter's: 3 filter taps from m x m blocks of dy, F(3, m) -- the
// transpose of F(m, 3) (its A and G swap roles), with G's scale factors
// moved into the dy transform.
const Algorithm F32{3,
                    2,
                    4,
                    {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}},
                    {{1, 0}, {h, h}, {h, -h}, {0, 1}},
                    {{1, 1, 1, 0}, {0, 1, -1, 0}, {0, 1, 1, 1}}};
const Algorithm F34{
    3,
    4,
    6,
    F43.BT,
    {{q4, 0, 0, 0},
     {-s6, -s6, -s6, -s6},
     {-s6, s6, -s6, s6},
     {s24, s12, s6, t3},
     {s24, -s12, s6, -t3},
     {0, 0, 0, 1}},
    {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 1}}};

/// sum_k c[k] * e[k] without the zero terms or multiplies by +-1.
Expr combine(const std::vector<float> &c, const std::vector<Expr> &e) {
  Expr s;
  for (size_t k = 0; k < c.size(); ++k) {
    if (c[k] == 0)
      continue;
    if (!s.defined())
      s = c[k] == 1 ? e[k] : c[k] == -1 ? -e[k] : c[k] * e[k];
    else if (c[k] == 1)
      s = s + e[k];
    else if (c[k] == -1)
      s = s - e[k];
    else
      s = s + c[k] * e[k];
  }
  return s.defined() ? s : Expr(0.0f);
}

/// The two-sided transform of a small square matrix d by the constant K x
/// MM matrix Lm, as K x K expressions in row-major order: out[K p + q] =
/// sum_{j,i} Lm[p][j] Lm[q][i] d(j, i), j along y and i along x; rows
/// first, then columns. Every transform here is one: B^T d B of an input
/// patch, G g G^T of a filter or of a block of dy, A^T M A back.
std::vector<Expr> twoSided(const Matrix &Lm,
                           const std::function<Expr(int, int)> &d) {
  const size_t K = Lm.size(), MM = Lm[0].size();
  std::vector<Expr> out;
  for (size_t p = 0; p < K; ++p) {
    std::vector<Expr> row; // (Lm d)[p][i]
    for (size_t i = 0; i < MM; ++i) {
      std::vector<Expr> col;
      for (size_t j = 0; j < MM; ++j)
        col.push_back(d(j, i));
      row.push_back(combine(Lm[p], col));
    }
    for (size_t q = 0; q < K; ++q)
      out.push_back(combine(Lm[q], row));
  }
  return out;
}

/// Tiles per register tile along a row of Tx tiles: the largest divisor
/// of Tx that fits the registers next to `coVecs` vectors of output
/// channels (the accumulators, coVecs loads and a broadcast), or 0 when
/// only 1 or 2 do (too few FMA chains to hide the latency).
int tilesPerRegisterTile(int Tx, int coVecs) {
  const int regs = isa().vregs;
  for (int t = std::min(Tx, 8); t >= 3; --t)
    if (Tx % t == 0 && coVecs * t + coVecs + 1 <= regs)
      return t;
  return 0;
}

int coVectors(int Co) {
  const int L = isa().lanes, maxVecs = isa().vregs >= 32 ? 4 : 2;
  for (int v = maxVecs; v >= 1; --v)
    if (Co % (v * L) == 0)
      return v;
  return 0;
}

/// The forward GEMMs' register tile: `nv` co vectors x `T` tiles, the most
/// co vectors for which a row's tiles divide into a tile that fits (a row
/// of 7 tiles, recon_conv1's 14 x 14: 1 x 7 on AVX2, where 2 x 7 needs 17
/// registers); false if none.
bool forwardTile(int Co, int Tx, int &nv, int &T) {
  const int L = isa().lanes;
  for (nv = coVectors(Co); nv >= 1; --nv)
    if (Co % (nv * L) == 0 && (T = tilesPerRegisterTile(Tx, nv)) > 0)
      return true;
  return false;
}

/// The forward algorithm for Ho x Wo outputs: F(4x4, 3x3) where they
/// divide into 4 x 4 tiles (1 / 4 the direct conv's multiplies; the
/// GEMMs' share of the work falls from 1 / 2.25), else F(2x2, 3x3) where
/// they divide into 2 x 2 ones -- unless F(4x4) over tiles that overhang
/// the output (its last row and column of tiles partly computed for
/// nothing) still takes fewer multiplies with a register tile at least as
/// large: recon_conv1's 14 x 14 in 4 x 4 tiles of 2 x 4 accumulators
/// (576 points per channel pair, against 784 in 2 x 2 tiles of 1 x 7):
/// forward 1.90 -> 1.41-1.49 ms, grad-input 1.96 -> 1.39 on one thread,
/// two pairs (in the step on two threads, 3 of 4 pairs faster). conv3's 10 x 10
/// keeps F(2x2): 3 x 3 tiles of 4 leave a 2 x 3 register tile against 2 x 5
/// (11.9-12.2 -> 13.7-14.0 ms). Null when no algorithm has a register tile that
/// fits.
const Algorithm *forwardAlgorithm(int Co, int Ho, int Wo, int &nv, int &T) {
  if (Ho % 4 == 0 && Wo % 4 == 0 && forwardTile(Co, Wo / 4, nv, T))
    return &F43;
  int nv2 = 0, T2 = 0, nv4 = 0, T4 = 0;
  const bool two =
      Ho % 2 == 0 && Wo % 2 == 0 && forwardTile(Co, Wo / 2, nv2, T2);
  const int tx = (Wo + 3) / 4, ty = (Ho + 3) / 4;
  // (Only against F(2x2): an odd output stays direct, unmeasured.)
  const bool four = two && forwardTile(Co, tx, nv4, T4) &&
                    36 * tx * ty < 16 * (Wo / 2) * (Ho / 2) &&
                    nv4 * T4 >= nv2 * T2;
  if (four) {
    nv = nv4, T = T4;
    return &F43;
  }
  if (two) {
    nv = nv2, T = T2;
    return &F23;
  }
  return nullptr;
}

/// What every Winograd product needs: the CPU, a conv not marked direct
/// (kg::markDirectConvs), a 3 x 3 filter, stride 1.
bool candidate(const OpContext &ctx, int KH, int KW, int sh, int sw) {
  return !ctx.gpu && !ctx.has("mtl.direct") && KH == 3 && KW == 3 && sh == 1 &&
         sw == 1;
}

} // namespace

int winogradOutputTile(int Co, int Ho, int Wo) {
  int nv, T;
  const Algorithm *f = forwardAlgorithm(Co, Ho, Wo, nv, T);
  return f ? f->m : 0;
}

bool winogradApplies(const OpContext &ctx, int Co, int Ci, int KH, int KW,
                     int sh, int sw, int Ho, int Wo) {
  const int L = isa().lanes;
  if (!candidate(ctx, KH, KW, sh, sw) || Ci % L != 0 || Co % L != 0)
    return false;
  int nv, T;
  return forwardAlgorithm(Co, Ho, Wo, nv, T) != nullptr;
}

Func winogradConv(OpContext &ctx, ConvSource src, ConvFilter filt,
                  std::optional<Func> bias, int Ho, int Wo, int Co, int Ci,
                  int ph, int pw) {
  const int L = isa().lanes;
  int nv = 0, T = 0;
  const Algorithm &f = *forwardAlgorithm(Co, Ho, Wo, nv, T);
  const int m = f.m, A = f.alpha;
  Var c("c"), x("x"), y("y"), n("n"), e("e"), tx("tx"), ty("ty"), co("co"),
      ci("ci");

  // The zero-padded input, staged per image.
  Func pad(ctx.name("pad"));
  pad(c, x, y, n) = src(c, x, y, n);

  // U[e](co, ci) = (G g G^T)[p][q], e = alpha p + q (p along ky, q along
  // kx).
  std::vector<Expr> u =
      twoSided(f.G, [&](int ky, int kx) { return filt(co, ci, kx, ky); });
  Func U(ctx.name("wino_u"));
  U(co, ci, e) = mux(e, u);

  // V[e](ci, tile) = (B^T d B)[p][q] over the tile's alpha x alpha input
  // patch d.
  std::vector<Expr> v = twoSided(f.BT, [&](int jy, int ix) {
    return pad(ci, m * tx + ix - pw, m * ty + jy - ph, n);
  });
  Func V(ctx.name("wino_v"));
  V(ci, e, tx, ty, n) = mux(e, v);

  // The alpha^2 GEMMs, accumulated in a register tile per (e, co block,
  // tiles).
  RDom r(0, Ci, ctx.name("r"));
  Func acc(ctx.name("wino_acc")), M(ctx.name("wino_m"));
  acc(co, e, tx, ty, n) = 0.0f;
  // U packed in panels of the register tile's P output channels: Up(cp,
  // ci, cpo, e) = U[e](cpo P + cp, ci), so a tile's GEMM reads its panel
  // (Ci x P) as one contiguous stream, not P of every Co-wide row (a new
  // line 4 Co bytes apart per ci, where the profile stalled). One thread,
  // three interleaved pairs: conv3's forward 11.7-12.0 -> 10.7-11.0 ms,
  // grad-input 11.2-11.6 -> 10.8-11.1, conv2's 8.6-10.0 -> 8.4-9.7.
  const int P = nv * L;
  Func Up(ctx.name("wino_up"));
  Var cp("cp"), cpo("cpo");
  Up(cp, ci, cpo, e) = U(cpo * P + cp, ci, e);
  acc(co, e, tx, ty, n) += Up(co % P, r, co / P, e) * V(r, e, tx, ty, n);
  M(co, e, tx, ty, n) = acc(co, e, tx, ty, n);

  // Y = A^T M A for the m x m outputs of tile (x / m, y / m): yx[m oy +
  // ox] (the unrolled ox, oy select one).
  std::vector<Expr> yx = twoSided(
      f.AT, [&](int p, int q) { return M(c, A * p + q, x / m, y / m, n); });
  Expr value = mux((y % m) * m + x % m, yx);
  if (bias)
    value = (*bias)(c) + value;
  Func out(ctx.resultName);
  out(c, x, y, n) = ctx.applyEpilogue(value, {c, x, y, n});

  // Schedule (CPU only: winogradApplies).
  Var ox("ox"), oy("oy"), cv("cv"), cb("cb");
  // Outputs that end inside a tile (14 x 14 in 4 x 4 tiles) guard the
  // tile's last rows and columns instead of shifting the tile inwards, so
  // ox and oy stay constants of the unrolled transform.
  auto tail = [m](int extent) {
    return extent % m == 0 ? TailStrategy::Auto : TailStrategy::GuardWithIf;
  };
  out.compute_root()
      .split(x, tx, ox, m, tail(Wo))
      .split(y, ty, oy, m, tail(Ho))
      .split(c, cb, cv, L)
      .reorder(cv, ox, oy, cb, tx, ty, n)
      .vectorize(cv)
      .unroll(ox)
      .unroll(oy)
      .parallel(n);
  pad.compute_at(out, n).vectorize(c, L);
  // The transformed tiles and GEMM results of a whole image where they
  // fit in L2 (up to 350 KB on the reference network), each point's GEMM
  // sweeping all the image's tiles: U[e] (Co x Ci, 32 KB for conv3) is
  // then read once per image, not once per row of tiles. conv3
  // (10 x 10, 5 rows), one thread, interleaved: forward 13.9-14.4 ->
  // 12.1-12.7 ms, grad-input 12.9-14.2 -> 11.8-12.0; conv2 unchanged.
  const long tiles = long((Ho + m - 1) / m) * ((Wo + m - 1) / m);
  const bool img = long(A) * A * (Ci + Co) * tiles * 4 <= (384 << 10);
  // The points of a tile share its loads: e unrolled inside the channel
  // vector loop.
  Var cio("cio"), civ("civ");
  V.store_at(out, n)
      .compute_at(out, img ? n : ty)
      .split(ci, cio, civ, L)
      .reorder(civ, e, cio, tx)
      .vectorize(civ)
      .unroll(e);
  Var coo("coo"), coi("coi"), to("to"), ti("ti");
  M.store_at(out, n)
      .compute_at(out, img ? n : ty)
      .split(co, coo, coi, nv * L)
      .split(tx, to, ti, T);
  if (img)
    M.reorder(coi, ti, coo, to, ty, e);
  else
    M.reorder(coi, ti, coo, to, e);
  M.vectorize(coi, L).unroll(coi).unroll(ti);
  acc.compute_at(M, coo).vectorize(co, L).unroll(co).unroll(tx);
  acc.update().reorder(co, tx, r).vectorize(co, L).unroll(co).unroll(tx);
  Var cov("cov");
  U.compute_root()
      .split(co, coo, cov, L)
      .reorder(cov, e, coo, ci)
      .vectorize(cov)
      .unroll(e)
      .parallel(ci);
  Up.compute_root().vectorize(cp, L).parallel(e);
  return out;
}

namespace {
/// Input channels per register tile of the grad-filter's GEMMs (next to
/// coVectors(Co) vectors of output channels), or 0.
int filterTileCi(int Ci, int coVecs) {
  const int regs = isa().vregs;
  for (int t : {6, 5, 4, 3})
    if (Ci % t == 0 && coVecs * t + coVecs + 1 <= regs &&
        coVecs * t <= (regs >= 32 ? 24 : 12))
      return t;
  return 0;
}

/// The grad-filter's algorithm: F(3x3, 4x4) where dy divides into 4 x 4
/// blocks, else F(3x3, 2x2) where into 2 x 2 ones, else null. (F(3x3, 4x4)
/// over blocks that overhang dy, 19-27 % fewer multiplies for 10 x 10 and
/// 14 x 14, was slower: conv3's grad-filter 12.9-16.6 -> 16.8-20.0 ms on
/// one thread, three pairs; each image's 9 blocks instead of 25 amortize
/// the register tile's loads and stores less.)
const Algorithm *filterAlgorithm(int Ho, int Wo) {
  for (const Algorithm *f : {&F34, &F32})
    if (Ho % f->r == 0 && Wo % f->r == 0)
      return f;
  return nullptr;
}
} // namespace

bool winogradFilterApplies(const OpContext &ctx, int Co, int Ci, int KH, int KW,
                           int sh, int sw, int Ho, int Wo) {
  // A dy or x recomputed in this segment (Staging.h) would be recomputed
  // for every transform that reads it: direct.
  if (!candidate(ctx, KH, KW, sh, sw) || !filterAlgorithm(Ho, Wo) ||
      (ctx.staging && !ctx.staging->producers.empty()) || Co % isa().lanes != 0)
    return false;
  const int v = coVectors(Co);
  return v > 0 && filterTileCi(Ci, v) > 0;
}

Func winogradFilterGrad(OpContext &ctx, ConvSource src, Func dy, int N, int Ho,
                        int Wo, int Co, int Ci, int ph, int pw) {
  const Algorithm &f = *filterAlgorithm(Ho, Wo);
  const int L = isa().lanes, b = f.r, A = f.alpha, Tx = Wo / b, Ty = Ho / b;
  const int nv = coVectors(Co), CT = filterTileCi(Ci, nv);
  Var c("c"), x("x"), y("y"), n("n"), e("e"), tx("tx"), ty("ty"), co("co"),
      ci("ci"), q("q"), kx("kx"), ky("ky");
  // Batch chunks reduced independently, then summed.
  const int chunks = batchChunks(N), chunk = N / chunks;

  Func pad(ctx.name("pad"));
  pad(c, x, y, n) = src(c, x, y, n);

  // Vx[e](ci, tile) = (B^T d B)[p][q] over the tile's alpha x alpha input
  // patch.
  std::vector<Expr> v = twoSided(f.BT, [&](int jy, int ix) {
    return pad(ci, b * tx + ix - pw, b * ty + jy - ph, n);
  });
  Func Vx(ctx.name("wino_vx"));
  Vx(ci, tx, ty, e, n) = mux(e, v);

  // Ud[e](co, tile) = (G dy G^T)[p][q] over the tile's b x b block of dy.
  std::vector<Expr> u = twoSided(
      f.G, [&](int jy, int jx) { return dy(co, b * tx + jx, b * ty + jy, n); });
  Func Ud(ctx.name("wino_ud"));
  Ud(co, tx, ty, e, n) = mux(e, u);

  // The alpha^2 GEMMs over the tiles of a chunk of images.
  RDom r(0, Tx, 0, Ty, 0, chunk, ctx.name("r"));
  Expr nn = q * chunk + r.z;
  Func acc(ctx.name("wino_acc")), part(ctx.name("wino_part"));
  acc(co, ci, e, q) = 0.0f;
  acc(co, ci, e, q) += Ud(co, r.x, r.y, e, nn) * Vx(ci, r.x, r.y, e, nn);
  part(co, ci, e, q) = acc(co, ci, e, q);
  Func M(ctx.name("wino_msum"));
  Expr sum = part(co, ci, e, 0);
  for (int k = 1; k < chunks; ++k)
    sum += part(co, ci, e, k);
  M(co, ci, e) = sum;

  // dW = A^T M A: taps[3 ky + kx] from the alpha^2 points.
  std::vector<Expr> taps =
      twoSided(f.AT, [&](int p, int q) { return M(co, ci, A * p + q); });
  Func out(ctx.resultName);
  out(co, ci, kx, ky) = mux(kx + 3 * ky, taps);

  // Schedule (CPU only). Per chunk (parallel) and image: both transforms
  // for all alpha^2 points, then the GEMMs, a register tile of co vectors x CT
  // input channels accumulating over the image's tiles.
  part.compute_root().parallel(q);
  acc.compute_at(part, q).vectorize(co, L);
  Var coo("coo"), coi("coi"), cov("cov"), cio("cio"), cii("cii");
  acc.update()
      .split(co, coo, coi, nv * L)
      .split(coi, coi, cov, L)
      .split(ci, cio, cii, CT)
      .reorder(cov, coi, cii, r.x, r.y, cio, coo, e, r.z, q)
      .vectorize(cov)
      .unroll(coi)
      .unroll(cii);
  const int vl = std::min(L, dividingLanes(Ci));
  pad.compute_at(acc, r.z);
  Var civ("civ"), cvo("cvo");
  Vx.compute_at(acc, r.z)
      .split(ci, cvo, civ, vl)
      .reorder(civ, e, cvo, tx, ty)
      .unroll(e);
  if (vl > 1) {
    pad.vectorize(c, vl);
    Vx.vectorize(civ);
  }
  Ud.compute_at(acc, r.z)
      .split(co, coo, cov, L)
      .reorder(cov, e, coo, tx, ty)
      .vectorize(cov)
      .unroll(e);
  M.compute_root().vectorize(co, L).parallel(e);
  out.compute_root().vectorize(co, L).parallel(ky);
  return out;
}

} // namespace mtl::codegen
