//===- CnnOps.h - Lowerings of the CNN ops (internal) ------------*- C++
//-*-===//
//
// The op classes of ir/CnnOps.td and the general (dilated / grouped) conv2d.
// Internal to codegen/ops: includes Halide.h through Lowering.h.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_OPS_CNNOPS_H
#define MTL_CODEGEN_OPS_CNNOPS_H

#include "codegen/Lowering.h"

#include <functional>
#include <optional>

namespace mtl::codegen {

// Registration, one function per file (CnnCommon.cpp calls them all from
// registerCnnOps, the op table's one entry for this family).
void registerActivationOps(OpTable &table);  // Activation.cpp
void registerResampleOps(OpTable &table);    // Resample.cpp
void registerGraphOps(OpTable &table);       // Graph.cpp
void registerNormOps(OpTable &table);        // Norm.cpp
void registerConvGeneralOps(OpTable &table); // Conv2DGeneral.cpp

/// Whether a conv2d (or one of its gradients) has dilation or groups, which
/// the fast path in Conv2D.cpp does not handle.
bool isGeneralConv(const OpContext &ctx);
Halide::Func lowerConv2DGeneral(OpContext &ctx);
Halide::Func lowerConv2DBackwardInputGeneral(OpContext &ctx);
Halide::Func lowerConv2DBackwardFilterGeneral(OpContext &ctx);

//===- Winograd convolutions, F(4x4 or 2x2, 3x3) (Winograd.cpp) ----------===//

/// src(c, u, v, n): the conv's input at unpadded coordinates (zero outside);
/// filt(co, ci, kx, ky): its filter (for a grad-input, the flipped,
/// transposed one).
using ConvSource = std::function<Halide::Expr(Halide::Expr, Halide::Expr,
                                              Halide::Expr, Halide::Expr)>;
using ConvFilter = ConvSource;
/// Whether a conv of these sizes takes the Winograd path: CPU, not marked
/// "mtl.direct" (kg::markDirectConvs), 3 x 3, stride 1, output sizes in
/// whole 2 x 2 tiles or 4 x 4 ones (whole, or overhanging where that is
/// cheaper), channels in whole vectors and a register tile that fits.
bool winogradApplies(const OpContext &ctx, int Co, int Ci, int KH, int KW,
                     int sh, int sw, int Ho, int Wo);
/// The output tile (4: F(4x4, 3x3), 2: F(2x2, 3x3), 0: none) of a Winograd
/// conv with Co output channels and Ho x Wo outputs, for isa().
int winogradOutputTile(int Co, int Ho, int Wo);
/// out(co, x, y, n) = bias(co) + sum_{ci,kx,ky} filt(co, ci, kx, ky) *
/// src(ci, x + kx - pw, y + ky - ph, n), through the fused epilogue; named
/// ctx.resultName and scheduled.
Halide::Func winogradConv(OpContext &ctx, ConvSource src, ConvFilter filt,
                          std::optional<Halide::Func> bias, int Ho, int Wo,
                          int Co, int Ci, int ph, int pw);

/// Whether a conv2d_backward_filter of these sizes takes Winograd's
/// F(3x3, 4x4) or F(3x3, 2x2) (the same conditions, channels along Co in
/// vectors, and no recomputed producer in the segment).
bool winogradFilterApplies(const OpContext &ctx, int Co, int Ci, int KH, int KW,
                           int sh, int sw, int Ho, int Wo);
/// dw(co, ci, kx, ky) = sum_{n,x,y} dy(co, x, y, n) * src(ci, x + kx - pw,
/// y + ky - ph, n); named ctx.resultName and scheduled.
Halide::Func winogradFilterGrad(OpContext &ctx, ConvSource src, Halide::Func dy,
                                int N, int Ho, int Wo, int Co, int Ci, int ph,
                                int pw);

//===- A wide filter's grad-input as a GEMM and a col2im (GemmGradInput.cpp)//

/// The grad-input of a stride-1 conv (dy [N, Ho, Wo, Co], w [KH, KW, Ci,
/// Co] -> dx [N, H, W, Ci], padding ph, pw) as, per image, one GEMM of the
/// packed filter (KH KW Ci x Co) by dy's pixels, then each dx pixel the sum
/// of the taps that reach it; undefined where the direct form wastes little
/// (it gathers over zero-padded dy: a 5 x 5 filter without padding
/// multiplies a quarter of its products by zeros) or the per-image product
/// would not stay in cache (CPU only).
Halide::Func gemmGradInput(OpContext &ctx, int H, int W, int Ci, int KH, int KW,
                           int Co, int Ho, int Wo, int ph, int pw);

//===- A first layer through its patches' moments (FirstConvMoments.cpp) -===//

/// An inlined first-layer conv (at most 9 taps per output) of this segment:
/// its operands (published by its lowering), geometry and the moments of
/// its input patches.
struct FirstConv {
  const kg::Node *node = nullptr;
  Halide::Func pad, w; // pad: the input, zero-padded (at root)
  std::optional<Halide::Func> b;
  int N, H, W, Ci, KH, KW, Co, Ho, Wo, sh, sw, ph, pw;
  int P; // taps per output: KH KW Ci; tap P is the bias's (1)
  /// Tap t < P of output (x, y, n): its input, zero outside.
  Halide::Expr tap(Halide::Expr t, Halide::Expr x, Halide::Expr y,
                   Halide::Expr n) const;
  /// The filter's tap t of channel co; t == P: the bias (0 without).
  Halide::Expr weight(Halide::Expr co, int t) const;
  /// g(t, u) (Float(64), t, u <= P) = the sum over the batch's outputs of
  /// tap t times tap u; once per segment (OpContext::shared).
  Halide::Func moments(OpContext &ctx) const;
};

/// Called by the inlined first-layer conv's lowering.
void publishFirstConv(OpContext &ctx, Halide::Func x, Halide::Func w,
                      std::optional<Halide::Func> b);
/// The inlined first-layer conv whose result is value v, if v is one.
std::optional<FirstConv> firstConvOf(const OpContext &ctx, int v);
/// The conv2d_backward_filter of this segment that takes the moments
/// shortcut: of the first conv whose result is x, reading the
/// batch_norm_backward_input of (dy, x); null if none.
const kg::Node *foldedFilterGrad(const OpContext &ctx, int dy, int x);
/// OpContext::shared keys of what the batch norm's ops publish for it:
/// "s1" of the gamma pass (by its dy), "p", "q", "r" of the input gradient
/// (by its result).
std::string firstConvKey(const char *what, int v);
/// batch_stats of the conv's result from the moments: [2, C] (mean, var).
Halide::Func firstConvStats(OpContext &ctx, const FirstConv &fc);
/// The first layer's conv2d_backward_filter (ctx.node) from the moments,
/// the gamma pass's S1 and the input gradient's p, q, r, where all are in
/// this segment (foldedFilterGrad); an undefined Func otherwise.
Halide::Func firstConvFilterGrad(OpContext &ctx);

/// OpContext::shared key of the source image of the upsample_nearest whose
/// result is value v, published where the upsample is recomputed in its
/// readers (Resample.cpp), for a conv that zero-pads it (Conv2D.cpp).
std::string upsampleSourceKey(int v);

//===- A first layer's forward in one pass (FirstLayerPool.cpp) ---------===//

/// max_pool (ctx.node, K x K windows at stride K, no padding) of
/// relu(batch_norm_train(x)) or batch_norm_train(x) (or batch_norm's, as an
/// epilogue of x), x a first conv
/// recomputed in this segment (firstConvOf): the batch norm folded into the
/// filter, each window's conv outputs computed taps outer; named
/// ctx.resultName and scheduled. An undefined Func where that does not
/// apply.
Halide::Func firstLayerPool(OpContext &ctx, int K);
/// The max_pool_argmax (ctx.node) of `pool` (its Func `out`) where that pool
/// was a firstLayerPool: from its window stage, in its loops (compute_with);
/// an undefined Func otherwise.
Halide::Func firstLayerPoolArgmax(OpContext &ctx, const kg::Node &pool,
                                  Halide::Func out);

//===- A first layer's pool gradient from the argmax (FirstLayerPoolGrad.cpp)//

/// OpContext::shared key of operand `what` ("dy", "argmax") of the
/// max_pool_grad whose result is value v, published where it reads a saved
/// argmax.
std::string poolGradOperandKey(int v, const char *what);
/// The sums of a first layer's batch-norm gamma pass (ctx.node: its dy is
/// [relu_grad](max_pool_grad(g, x, argmax)) of K x K windows at stride K,
/// inlined; fc the conv under the batch norm) from the saved argmax: per
/// channel a Tuple of S1(t) = sum dy tap_t for t < P and sum dy, each
/// window visited once, its dy nonzero at one pixel. Undefined where that
/// does not apply.
Halide::Func firstLayerPoolGradSums(OpContext &ctx, const FirstConv &fc);

/// OpContext::shared key of a batch norm's per-channel `what` ("scale",
/// "shift": y = x scale + shift), published by batch_norm_train's lowering
/// or by inference batch_norm's (its own or its epilogue's in a conv).
std::string batchNormAffineKey(const kg::Node &bn, const char *what);

//===- Convs over a nearest upsample, phase by phase (Polyphase.cpp) ----===//

/// A conv's input that is a nearest upsample, by (sx, sy), of `source` (Hs x
/// Ws), recomputed in the conv's segment (Segments.cpp).
struct UpsampledInput {
  Halide::Func source;
  int sx, sy, Hs, Ws;
};

/// The upsample whose result is value v, if it is one recomputed in this
/// segment (its lowering published its source: upsampleSourceKey).
std::optional<UpsampledInput> upsampledInputOf(const OpContext &ctx, int v);

/// A stride-1 conv over an upsample, per output phase (x % sx, y % sy): Kx
/// x Ky taps over the source, each merging the filter taps that read the
/// same source pixel.
struct PhaseConv {
  UpsampledInput in;
  int Kx, Ky, ph, pw;
  Halide::Func merged; // merged(co, ci, a, b, dx, dy), at root
  Halide::Func source; // the source zero-padded, for the conv to stage
  /// merged times source for output (co, x, y, n), input channel ci and
  /// phase tap (dx, dy).
  Halide::Expr term(Halide::Expr co, Halide::Expr ci, Halide::Expr x,
                    Halide::Expr y, Halide::Expr n, Halide::Expr dx,
                    Halide::Expr dy) const;
};
PhaseConv phaseConv(OpContext &ctx, const UpsampledInput &in, Halide::Func filt,
                    int Co, int Ci, int KH, int KW, int ph, int pw);

/// box(c, u, v, n) = sum of dy (Ho x Wo, zero outside) over [u, u + sx) x
/// [v, v + sy): a grad-filter over an upsample reads it at the source's
/// pixels, dw(co, ci, kx, ky) = sum_{n,i,j} box(co, sx i + pw - kx, sy j +
/// ph - ky, n) source(ci, i, j, n).
Halide::Func boxSums(OpContext &ctx, Halide::Func dy, int Ho, int Wo, int sx,
                     int sy);

/// upsample_grad_nearest (ctx.node) of a conv2d_backward_input recomputed
/// in it that published its operands (phaseGradInputKey): both in one
/// pass over the source's pixels, named ctx.resultName and scheduled; an
/// undefined Func when that does not apply.
Halide::Func phaseUpsampleGrad(OpContext &ctx);

/// OpContext::shared key of operand `which` ("dy", "w") of the recomputed
/// conv2d_backward_input whose result is value v.
std::string phaseGradInputKey(int v, const char *which);

//===- Shared helpers (CnnCommon.cpp) -------------------------------------===//

/// x(c, u, v, n) of an NHWC tensor x (H x W pixels), zero outside [0, W) x
/// [0, H): a conv's or pool's zero padding.
Halide::Expr zeroPadded(Halide::Func x, int H, int W, Halide::Expr c,
                        Halide::Expr u, Halide::Expr v, Halide::Expr n);

/// Widest vector (16, 8, 4 lanes) that fits `extent`, or 1.
int vectorLanes(int extent);

/// The Halide vars of a rank-r tensor without dim 0 (the last logical axis):
/// the "row" a last-axis op (softmax, layer_norm) reduces over.
std::vector<Halide::Expr> restOf(const std::vector<Halide::Var> &v);

/// Schedules a last-axis op: `out` (pure over `v`, extents from `shape`)
/// compute_root, vectorized over dim 0 and parallel over the outermost dim;
/// each per-row stage in `rows` (pure over v[1..], optionally with one
/// update reducing over the row) computed per row inside it. GPU: every
/// stage compute_root, one thread per row for the row stages.
void scheduleRowwise(Halide::Func out, const std::vector<Halide::Var> &v,
                     const std::vector<int64_t> &shape,
                     const std::vector<Halide::Func> &rows, bool gpu);

/// A term of channelSums: its value at (c, leading...).
using ChannelTerm =
    std::function<Halide::Expr(const std::vector<Halide::Expr> &)>;

/// sums(c) = sum over every leading dim of `terms[k](c, leading...)` for a
/// [N, ..., C] tensor (rank >= 2), all terms in one pass (a Tuple when there
/// are several): the batch split into chunks reduced in parallel (one chunk
/// per sample on a GPU), then the chunks summed. Named ctx.name(nm)
/// (ChannelSums.cpp).
Halide::Func channelSums(OpContext &ctx, const std::vector<int64_t> &shape,
                         const std::string &nm,
                         const std::vector<ChannelTerm> &terms);

/// out(c) = sum over every leading dim of `term(c, leading...)`, for a
/// [..., C] tensor of logical shape `shape` (channelSums of one term). Named
/// ctx.resultName.
Halide::Func reduceLeading(
    OpContext &ctx, const std::vector<int64_t> &shape,
    std::function<Halide::Expr(const std::vector<Halide::Expr> &)> term);

void requireArity(const OpContext &ctx, size_t n, const char *what);

/// Independent chunks a grad-filter splits its batch reduction into (16,
/// else 4, 2 or 1, whichever divides N): two threads slowed unevenly by the
/// VM balance 16 chunks (with 4, one late chunk left a thread idle for a
/// quarter of the kernel).
int batchChunks(int N);

/// OpContext::shared key of a Func t(c) = the sum of value `v` over every
/// leading dim, known without another pass over v: set by the op that has
/// it (TrainMode.cpp: batch_norm_grad_gamma for its dy, whose pass sums dy
/// too; batch_norm_backward_input for its result, in closed form), read by
/// the bias_grad of v (Elementwise.cpp). Both must share a segment
/// (Segments.cpp).
std::string channelTotalKey(int v);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_OPS_CNNOPS_H
