//===- Schedule.cpp - Schedule helpers shared by the op classes ----------===//
//
// The CPU numbers behind these choices are in /work/shared/TOOLCHAIN.md:
// 16-24 zmm accumulators per register tile, the tile innermost in update
// stages (Halide puts RVars innermost by default), constant extents.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <algorithm>

using namespace Halide;

namespace mtl::codegen {

std::vector<Var> makeVars(int rank) {
  static const char *names[] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
  std::vector<Var> v;
  for (int i = 0; i < rank; ++i)
    v.push_back(i < 8 ? Var(names[i]) : Var());
  return v;
}

Expr call(const Func &f, const std::vector<Expr> &a) {
  return const_cast<Func &>(f)(a);
}

std::vector<Expr> asExprs(const std::vector<Var> &v) {
  return std::vector<Expr>(v.begin(), v.end());
}

/// Widest vector (up to the ISA's fp32 lanes) that fits `extent`, or 1.
static int vectorWidth(int extent) {
  for (int w : {16, 8, 4})
    if (w <= isa().lanes && extent >= w)
      return w;
  return 1;
}

int dividingLanes(int extent) {
  for (int w : {16, 8, 4})
    if (extent % w == 0)
      return w;
  return 1;
}

/// Rows of a register tile with `nv` vector columns: ~20 accumulators (4x5,
/// 3x6, 2x8, 1x12), or up to ~24 (28 zmm: the nv filter vectors and a
/// broadcast must stay in registers too) when that divides the row extent.
/// ShiftInwards recomputes the overlap of a last partial tile: 8-row tiles
/// over 20 columns (conv2's grad-input) computed 24 (20 % waste).
/// With 16 registers (AVX2, SSE4.1): ~10-12 accumulators, at most 2
/// vector columns.
static int rowTile(int nv, int rows) {
  const bool wide = isa().vregs >= 32;
  static const int rowsFor32[] = {8, 12, 8, 6, 5},
                   maxRows32[] = {8, 24, 12, 8, 6};
  static const int rowsFor16[] = {4, 8, 5, 4, 3},
                   maxRows16[] = {4, 12, 6, 4, 3};
  const int *rowsFor = wide ? rowsFor32 : rowsFor16;
  const int *maxRows = wide ? maxRows32 : maxRows16;
  int def = std::min(rows, rowsFor[nv]);
  if (rows % def == 0)
    return def;
  for (int r = maxRows[nv]; r >= (rowsFor[nv] + 1) / 2; --r)
    if (rows % r == 0)
      return r;
  return def;
}

Var gpuStageImpl(Stage s, const std::vector<VarOrRVar> &v,
                 const std::vector<int> &ext) {
  Var tx("tx"), ty("ty"), bx("bx"), by("by");
  if (v.empty()) {
    s.gpu_single_thread();
    return tx;
  }
  if (v.size() == 1) {
    s.gpu_tile(v[0], bx, tx, std::min(ext[0], 128), TailStrategy::GuardWithIf);
    return tx;
  }
  // Fuse everything beyond the two innermost dims into one block dim.
  if (v.size() > 2) {
    VarOrRVar fused = v[2];
    for (size_t k = 3; k < v.size(); ++k) {
      Var f;
      s.fuse(fused, v[k], f);
      fused = f;
    }
    s.gpu_blocks(fused);
  }
  s.gpu_tile(v[0], v[1], bx, by, tx, ty, std::min(ext[0], 32),
             std::min(ext[1], 8), TailStrategy::GuardWithIf);
  return tx;
}

void gpuStage(Stage s, const std::vector<VarOrRVar> &v,
              const std::vector<int> &ext) {
  gpuStageImpl(s, v, ext);
}

void scheduleElementwise(Func f, const std::vector<Var> &v,
                         const std::vector<int64_t> &shape, bool gpu) {
  f.compute_root();
  int r = static_cast<int>(v.size());
  std::vector<int> ext;
  for (int i = 0; i < r; ++i)
    ext.push_back(hdim(shape, i));
  if (gpu) {
    gpuStage(f, std::vector<VarOrRVar>(v.begin(), v.end()), ext);
    return;
  }
  if (r == 0)
    return;
  // Vectorize the innermost dim that is not a unit dim: a one-channel image
  // (a decoder's output, its loss) has nothing to vectorize along c, and
  // scalar exp/log made recon's sigmoid cross-entropy pass 1.2-1.5 ms.
  int d = 0;
  while (d + 1 < r && ext[d] == 1)
    ++d;
  int w = vectorWidth(ext[d]);
  if (w > 1)
    f.vectorize(v[d], w, TailStrategy::ShiftInwards);
  if (r >= 2 && ext[r - 1] > 1 && d != r - 1)
    f.parallel(v[r - 1]);
}

void scheduleChannelRows(Func f, int lanes) {
  Var c = f.args()[0], x = f.args()[1], y = f.args()[2], n = f.args()[3];
  Var co("co"), ci("ci");
  f.compute_root()
      .split(c, co, ci, lanes)
      .reorder(ci, x, co, y, n)
      .vectorize(ci)
      .parallel(n);
}

bool pixelPairs(const std::vector<int64_t> &shape) {
  return shape.size() == 4 && hdim(shape, 1) % 2 == 0 &&
         hdim(shape, 2) % 2 == 0;
}

void scheduleElementwisePixelPairs(Func f, const std::vector<Var> &v,
                                   const std::vector<int64_t> &shape,
                                   bool gpu) {
  const int lanes = isa().lanes;
  if (gpu || !pixelPairs(shape) || hdim(shape, 0) % lanes != 0) {
    scheduleElementwise(f, v, shape, gpu);
    return;
  }
  Var co("co"), ci("ci"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
  f.compute_root()
      .split(v[0], co, ci, lanes)
      .split(v[1], xo, xi, 2)
      .split(v[2], yo, yi, 2)
      .reorder(ci, xi, yi, co, xo, yo, v[3])
      .vectorize(ci)
      .unroll(xi)
      .unroll(yi)
      .parallel(v[3]);
}

void scheduleTiledContraction(Func out, Func acc, const std::vector<Var> &v,
                              const std::vector<int> &ext, RDom r,
                              const TileSpec &spec, bool gpu) {
  out.compute_root();
  std::vector<VarOrRVar> rvars;
  for (int k = 0; k < r.dimensions(); ++k)
    rvars.push_back(r[k]);
  if (gpu) {
    // One thread per output element; the reduction runs in registers.
    std::vector<VarOrRVar> vv(v.begin(), v.end());
    Var tx = gpuStageImpl(out, vv, ext);
    acc.compute_at(out, tx);
    return;
  }
  const int J = ext[spec.j], I = ext[spec.i];
  const int vw = vectorWidth(J);
  int nv = vw > 1 ? std::min(isa().vregs >= 32 ? 4 : 2, J / vw) : 1;
  int iT = rowTile(nv, I);
  // The share of the tiles' outputs that are real (ShiftInwards recomputes
  // the overlap of a last tile). Where the widest tile wastes over 10 %, a
  // narrower one that fits the rows: the VAE's stride-2 conv (7 x 7
  // outputs, 64 channels) took 4 x 5 tiles, 10 rows computed for 7 (69 %
  // of the peak); 2 x 7: 97-98 % (one thread, Zen 5, two pairs).
  auto used = [&](int v, int t) {
    const int jt = vw * v;
    return double(J) / ((J + jt - 1) / jt * jt) * I / ((I + t - 1) / t * t);
  };
  if (vw > 1 && used(nv, iT) < 0.9)
    for (int v = nv - 1; v >= 2; --v)
      if (used(v, rowTile(v, I)) >= 0.9) {
        nv = v, iT = rowTile(v, I);
        break;
      }
  const int jT = vw > 1 ? vw * nv : J;

  Var jo("jo"), ji("ji"), io("io"), ii("ii");
  out.split(v[spec.j], jo, ji, jT, TailStrategy::ShiftInwards)
      .split(v[spec.i], io, ii, iT, TailStrategy::ShiftInwards);
  std::vector<VarOrRVar> order = {ji, ii, io};
  std::vector<int> others;
  for (int d = 0; d < (int)v.size(); ++d)
    if (d != spec.j && d != spec.i)
      others.push_back(d);
  for (size_t k = 0; k + 1 < others.size(); ++k)
    order.push_back(v[others[k]]);
  order.push_back(jo);
  if (!others.empty())
    order.push_back(v[others.back()]);
  out.reorder(order);
  if (vw > 1)
    out.vectorize(ji, vw);
  out.unroll(ji).unroll(ii);
  int par = spec.parallelDim >= 0 ? spec.parallelDim
                                  : (others.empty() ? -1 : others.back());
  Var t("t");
  bool fusedGrid = !(par >= 0 && ext[par] > 1);
  if (!fusedGrid) {
    out.parallel(v[par]);
  } else if (others.empty()) {
    // No batch-like dim: parallelize the tile grid, row tiles innermost so
    // each thread reuses the same column panel.
    out.fuse(io, jo, t).parallel(t);
  } else {
    fusedGrid = false;
    out.parallel(jo);
  }

  acc.compute_at(out, fusedGrid ? t : io);
  if (vw > 1)
    acc.vectorize(v[spec.j], vw);
  acc.unroll(v[spec.j]).unroll(v[spec.i]);
  std::vector<VarOrRVar> uorder = {v[spec.j], v[spec.i]};
  uorder.insert(uorder.end(), rvars.begin(), rvars.end());
  Stage u = acc.update();
  u.reorder(uorder);
  if (vw > 1)
    u.vectorize(v[spec.j], vw);
  u.unroll(v[spec.j]).unroll(v[spec.i]);
  if (spec.unrollR > 1 && !rvars.empty()) {
    const Expr extent = r[0].extent();
    const int64_t *e = as_const_int(extent);
    if (e && *e % spec.unrollR == 0)
      u.unroll(r[0], spec.unrollR);
  }
}

} // namespace mtl::codegen
