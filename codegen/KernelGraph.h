//===- KernelGraph.h - The lowered step function codegen consumes --------===//
//
// The contract between the MLIR side (passes/, built without exceptions
// against LLVM 19) and the Halide side (codegen/, exceptions on, LLVM 14
// inside libHalide). Plain C++ only: no LLVM or Halide types may appear here.
//
// A Function is one step function (train_step, eval_step, predict): a DAG of
// tensor ops in topological order, its pipeline arguments and its outputs.
// Every tensor is dense, row-major, with its *last* dimension innermost
// (NHWC activations, HWIO conv filters, [K, M] dense weights). On the Halide
// side dimension order is reversed: logical dim d of a rank-r tensor is
// Halide dimension r-1-d.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_KERNELGRAPH_H
#define MTL_CODEGEN_KERNELGRAPH_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mtl::kg {

enum class DType { F32, I32, I8 };

/// Bytes per element: 4 (f32, i32) or 1 (i8: a pool's argmax).
int elementBytes(DType dtype);

struct Value {
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // logical, row-major; rank 0 = scalar
};

/// One tensor op. `op` is the mtl dialect op name without the prefix, e.g.
/// "conv2d", "conv2d_backward_filter", "relu_grad", "join". The semantics of
/// each op are documented in docs/dialect.md and ir/MtlOps.td.
struct Node {
  std::string op;
  std::vector<int> inputs;                          // value ids
  int result = -1;                                  // value id
  std::map<std::string, std::vector<int64_t>> ints; // e.g. stride, padding
  std::map<std::string, double> floats;             // e.g. scale
  std::string loc;                                  // file:line:col or ""
};

/// What a pipeline argument or output means to the runtime.
enum class ArgKind {
  Input,       // model input batch, `name` = input name (e.g. "image")
  Target,      // a task's target batch, `name` = task name
  Mask,        // a task's per-sample weight (1 = labelled, 0 = skip)
  Param,       // a parameter, `name` = parameter name
  Loss,        // output: a task's mean loss (scalar), `name` = task
  Prediction,  // output: a task's head output, `name` = task
  Grad,        // output: gradient of the weighted loss w.r.t. param `name`
  State,       // a non-trained tensor kept across steps and saved in
               // checkpoints (e.g. batch-norm running statistics)
  StateOut,    // output of a train step: the new value of state `name`
  Seed,        // 0-dim i32, a different value every training step (dropout,
               // reparameterize noise); `name` is "seed"
  LossWeights, // f32[T]: the tasks' loss weights of this step, set by the
               // runtime's weighting strategy; `name` is "loss_weights"
  TaskGrad,    // output: task `task`'s gradient of shared param `name`
               // (the runtime's gradient method combines them)
};

struct Arg {
  ArgKind kind;
  std::string name;
  int value = -1;   // value id
  std::string init; // Param / State: how the runtime initializes it
  std::string task; // TaskGrad: the task
};

struct Function {
  std::string name; // train_step | eval_step | predict
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<Arg> args;    // pipeline inputs, in call order
  std::vector<Arg> outputs; // pipeline outputs, in call order (after args)
};

const char *toString(ArgKind kind);
const char *toString(DType dtype);

/// The function's whole content as a string: equal for equal functions (a
/// cache key for JIT-compiled pipelines).
std::string fingerprint(const Function &fn);

/// Bytes of a dense tensor of `v`.
int64_t byteSize(const Value &v);

/// Whether a conv2d node (or one of its gradients) has dilation or groups,
/// which the fast path (codegen/ops/Conv2D.cpp) does not handle.
bool isGeneralConv(const Node &node);

/// The max_pool whose windows a max_pool_argmax node locates: the same
/// input, kernel, stride and padding (mtl-save-pool-argmax); null if none.
const Node *poolOfArgmax(const Function &fn, const Node &argmax);

/// The node whose result is value `v`; null for an argument.
const Node *producerOf(const Function &fn, int v);

/// Marks every conv2d node and its gradients "mtl.direct": lowered as
/// direct convolutions even where Winograd's F(4x4 or 2x2, 3x3) (F(3x3,
/// 4x4 or 2x2) for the grad-filter) applies (codegen/ops/Winograd.cpp;
/// `mtlc build --no-winograd`).
void markDirectConvs(Function &fn);

} // namespace mtl::kg

#endif // MTL_CODEGEN_KERNELGRAPH_H
