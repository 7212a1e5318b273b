//===- Lowering.h - kg::Function -> Halide pipeline (internal) -----------===//
//
// Internal to codegen/: includes Halide.h, so never include it from a public
// header or from a translation unit that also sees LLVM/MLIR headers.
//
// Each op class lives in codegen/ops/<Class>.cpp and registers its lowering
// functions (definition + CPU/GPU schedule together) in the op table.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_LOWERING_H
#define MTL_CODEGEN_LOWERING_H

#include "codegen/Evaluate.h"
#include "codegen/KernelGraph.h"
#include "codegen/Staging.h"

#include <Halide.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mtl::codegen {

/// Everything an op's lowering function sees. Tensors are Funcs in Halide
/// dimension order (logical dim d of a rank-r tensor = Halide dim r-1-d).
struct OpContext {
  const kg::Function &fn;
  const kg::Node &node;
  std::vector<Halide::Func> inputs;              // one per node input
  std::vector<std::vector<int64_t>> inputShapes; // logical shapes
  std::vector<int64_t> shape;                    // logical result shape
  std::string resultName;                        // name for the result Func
  bool gpu = false;
  Halide::Target target;
  /// The result is computed inline in its readers (a segment's
  /// "mtl.inline", codegen/Segments.cpp): define it, schedule nothing.
  bool inlined = false;

  /// A fresh, unique name for an internal stage of this op.
  std::string name(const std::string &suffix) const;
  /// Integer attribute `key` (must have `n` entries) or `def` if absent.
  std::vector<int64_t> ints(const std::string &key, size_t n,
                            std::vector<int64_t> def = {}) const;
  double floatAttr(const std::string &key, double def) const;
  int rank() const { return static_cast<int>(shape.size()); }

  /// Epilogue fusion (mtl-fuse-epilogue): elementwise consumers computed
  /// inside this op. A producer that supports it (conv2d, dense,
  /// conv_transpose2d, the batch-norm applies, max_pool, max_pool_grad)
  /// passes its final value through applyEpilogue, with
  /// the Halide coordinates of the element, before the store; empty =
  /// identity.
  std::function<Halide::Expr(Halide::Expr, const std::vector<Halide::Expr> &)>
      epilogue;
  Halide::Expr applyEpilogue(Halide::Expr value,
                             const std::vector<Halide::Expr> &at) const {
    return epilogue ? epilogue(value, at) : value;
  }
  /// Stages shared between the ops of one function (loss fusion: the row
  /// log-sum-exp and mask denominator of a loss and its gradient), by key.
  /// Null: nothing is shared.
  std::map<std::string, Halide::Func> *shared = nullptr;
  /// Recomputed producers and the readers that stage them per image
  /// (codegen/Staging.h). Null: nothing is staged (GPU).
  Staging *staging = nullptr;
  /// Whether this node carries the integer attribute `key` (e.g. a fusion
  /// annotation such as "mtl.loss_group").
  bool has(const std::string &key) const { return node.ints.count(key) > 0; }
};

/// A lowering function: defines and schedules the result Func (named
/// ctx.resultName) and any internal stages. Throws LoweringError on bad
/// input (wrong arity, bad attributes).
using LowerFn = std::function<Halide::Func(OpContext &)>;
using OpTable = std::map<std::string, LowerFn>;

struct LoweringError {
  std::string message;
};

/// Runs `body`, turning every exception into an error string ("" = none):
/// no exception crosses the codegen API.
template <typename F> std::string guardedCall(F body) {
  try {
    body();
    return "";
  } catch (const LoweringError &e) {
    return e.message;
  } catch (const Halide::Error &e) {
    return std::string("Halide: ") + e.what();
  } catch (const std::exception &e) {
    return std::string("codegen: ") + e.what();
  } catch (...) {
    return "codegen: unknown exception";
  }
}

/// An elementwise op applied inside its producer (mtl-fuse-epilogue):
/// `consumer` is the op's context (its first input is the producer's value,
/// given as `x` at Halide coordinates `at`; other inputs are defined).
using EpilogueFn =
    std::function<Halide::Expr(const OpContext &consumer, Halide::Expr x,
                               const std::vector<Halide::Expr> &at)>;
using EpilogueTable = std::map<std::string, EpilogueFn>;

/// The registry of all op classes (ops/*.cpp).
const OpTable &opTable();
/// The ops that can be fused as an epilogue, with their expression (the
/// same one their op-table lowering uses).
const EpilogueTable &epilogueTable();
void registerElementwiseEpilogues(EpilogueTable &table); // Elementwise.cpp
void registerActivationEpilogues(EpilogueTable &table);  // Activation.cpp
void registerTrainModeEpilogues(EpilogueTable &table);   // TrainMode.cpp
void registerConvOps(OpTable &table);
void registerDenseOps(OpTable &table);
void registerPoolOps(OpTable &table);
void registerElementwiseOps(OpTable &table);
void registerLossOps(OpTable &table);
void registerCnnOps(OpTable &table); // ops/CnnCommon.cpp
void registerBoxLossOps(OpTable &table);
void registerRecurrentOps(OpTable &table);
void registerTrainModeOps(OpTable &table); // batch_norm, dropout, ...
void registerStrategyOps(OpTable &table);  // scale_task, task_join

/// The accumulating join (codegen/Segments.cpp): a dense_backward_input
/// computed inline in the join that sums it leaves its operands in
/// OpContext::shared under these keys ("dy", "w") instead of a product.
std::string gradInputOperandKey(int value, const char *which);
/// The join `ctx` as one kernel: sum_t dy_t w_t^T over the inlined
/// grad-inputs (each an update of one accumulator panel, ops/Dense.cpp) plus
/// the join's other operands, `rest`, as the accumulator's start. Returns
/// an undefined Func when no input was left inline.
Halide::Func denseBackwardInputSum(OpContext &ctx);

/// A lowered step function.
struct LoweredFunction {
  std::vector<Halide::ImageParam> params; // Function.args order
  std::vector<Halide::Func> outputs;      // Function.outputs order
  Halide::Pipeline pipeline;
  std::vector<Halide::Argument> arguments() const;
};

/// Lowers `fn` for `target` (GPU schedules when it has a GPU feature).
/// `autoscheduler`: "" = the hand-written schedules of ops/, else the name
/// of a Halide autoscheduler (AutoSchedule.h) that replaces them.
/// Throws LoweringError or Halide errors.
LoweredFunction lowerFunction(const kg::Function &fn,
                              const Halide::Target &target,
                              const std::string &autoscheduler = "");

/// A step function JIT-compiled for `kind` ("cpu" or "cuda") with the
/// schedule option `schedule` (AutoSchedule.h; "" = hand-written), once per
/// distinct function, kind and schedule (cached by kg::fingerprint;
/// thread-safe). `kind`: cpu | cuda, or a CPU instruction set (avx512 |
/// avx2 | sse41, Isa.h). For codegen::evaluate and the GPU tests.
struct JitPipeline {
  LoweredFunction lf;
  Halide::Target target;
};
std::shared_ptr<JitPipeline> jitCompiled(const kg::Function &fn,
                                         const std::string &kind,
                                         const std::string &schedule = "");

/// Host buffers of a JIT-run function (codegen::evaluate, the GPU tests):
/// `t` copied into a Halide-owned (aligned) buffer of value `v`'s shape and
/// type; an uninitialized buffer for an output of value `v`; and a buffer's
/// host data back into a HostTensor.
Halide::Buffer<> hostBuffer(const kg::Value &v, const HostTensor &t);
Halide::Buffer<> outputBuffer(const kg::Value &v);
HostTensor hostTensor(const kg::Value &v, Halide::Buffer<> b);

/// The CPU/CUDA target for codegen: `override` if non-empty, else the
/// explicit AVX-512 list when the host has AVX-512 (Zen 4 AMX trap, see
/// docs/codegen.md), else the host. `cuda` adds CUDA + capability 8.6.
Halide::Target chooseTarget(const std::string &kind,
                            const std::string &override);

/// C-identifier form of `s`, e.g. "conv1.weight" -> "conv1_weight".
std::string sanitize(const std::string &s);

//===- Schedule helpers shared by the op classes --------------------------===//

/// Pure variables for a rank-r tensor, Halide order (x0 innermost).
std::vector<Halide::Var> makeVars(int rank);
/// f(args...) from a vector of Exprs / Vars.
Halide::Expr call(const Halide::Func &f, const std::vector<Halide::Expr> &a);
std::vector<Halide::Expr> asExprs(const std::vector<Halide::Var> &v);
/// tanh(x) in vector arithmetic (ops/Activation.cpp): Halide 14 lowers its
/// own tanh to a scalar libm call per element.
Halide::Expr tanhOf(Halide::Expr x);
/// Extent of Halide dim `i` of a logical shape.
inline int hdim(const std::vector<int64_t> &shape, int i) {
  return static_cast<int>(shape[shape.size() - 1 - i]);
}

/// The widest of 16, 8 and 4 lanes that divides `extent` (no tail), or 1.
int dividingLanes(int extent);

/// compute_root, vectorize dim 0, parallel over the outermost dim (CPU) or
/// gpu_tile (GPU), for a Func with only a pure definition.
void scheduleElementwise(Halide::Func f, const std::vector<Halide::Var> &v,
                         const std::vector<int64_t> &shape, bool gpu);
/// scheduleElementwise for an NHWC tensor f(c, x, y, n) whose H and W are
/// even and C a whole number of vectors (CPU): 2 x 2 pixels per iteration,
/// unrolled, so that a 2 x 2 max-pool gradient computed inline in f finds
/// each window's maximum once for its four pixels (the unrolled copies
/// share it). Falls back to scheduleElementwise otherwise.
void scheduleElementwisePixelPairs(Halide::Func f,
                                   const std::vector<Halide::Var> &v,
                                   const std::vector<int64_t> &shape, bool gpu);
/// An NHWC f(c, x, y, n) (CPU) a vector of `lanes` channels at a time along
/// each row x: per-channel operands (a folded filter, a tap's weights) stay
/// in registers across the row; images in parallel.
void scheduleChannelRows(Halide::Func f, int lanes);
/// Whether an NHWC shape suits 2 x 2 pixel blocks (rank 4, even H and W).
bool pixelPairs(const std::vector<int64_t> &shape);
/// GPU schedule of one stage over its pure vars `v` (extents `ext`, Halide
/// order): gpu_tile the two innermost, fuse the rest into a block dim.
void gpuStage(Halide::Stage s, const std::vector<Halide::VarOrRVar> &v,
              const std::vector<int> &ext);

/// Register-tiled contraction: `out` (pure, = acc + epilogue) is split into
/// tiles of (vector dim j) x (dim i); `acc` (pure init + one update over
/// `r`) is computed per tile with the tile innermost, so the accumulators
/// stay in registers. `v`: pure vars of out/acc (Halide order), `ext`:
/// their extents. parallelDim: the pure dim to run in parallel (-1: fuse
/// the tile grid and parallelize that).
struct TileSpec {
  int j = 0, i = 1; // dims: vectorized (contiguous) and register-tiled
  int parallelDim = -1;
  int unrollR = 4; // unroll factor of the innermost reduction var
};
void scheduleTiledContraction(Halide::Func out, Halide::Func acc,
                              const std::vector<Halide::Var> &v,
                              const std::vector<int> &ext, Halide::RDom r,
                              const TileSpec &spec, bool gpu);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_LOWERING_H
