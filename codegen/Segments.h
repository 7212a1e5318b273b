//===- Segments.h - A step function as a sequence of small pipelines -----===//
//
// Halide's lowering passes grow faster than linearly with a pipeline's size:
// the reference train step (108 kernels) took ~45 s to compile as one
// pipeline. On the CPU each step function is therefore compiled as one
// Halide pipeline per segment (a node, with its fused epilogues; all the
// fused loss ops of a step stay together), in parallel, plus a small
// generated C++ entry point that runs the segments in order. Tensors that
// cross segments live in one arena per thread, planned at compile time by
// liveness; pipeline outputs are written in place in the caller's buffers.
// The entry point keeps the `<name>_argv` / `<name>_metadata` ABI of a
// single Halide pipeline, so the runtime and `--emit=lib` do not change.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_SEGMENTS_H
#define MTL_CODEGEN_SEGMENTS_H

#include "codegen/KernelGraph.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mtl::codegen {

/// Whether `node`, a batch_norm_backward_input of `fn`, has the sum of its
/// result over the leading dims in closed form (its grad_beta the
/// bias_grad of its dy, its stats the batch_stats of its x:
/// codegen/ops/TrainMode.cpp). Segments mark such nodes
/// "mtl.closed_total", since a segment no longer holds the producers.
bool hasClosedFormTotal(const kg::Function &fn, const kg::Node &node);

/// Whether an op's lowering can define its result for inlining into its
/// readers (OpContext::inlined): segments mark such a node "mtl.inline"
/// where its only readers are streaming passes in the same segment.
bool isInlinable(const std::string &op);

/// Where a value lives while the entry point runs.
struct ValueHome {
  enum Kind { Arg, Output, Arena } kind = Arena;
  int index = -1;      // Arg: index in args; Output: index in outputs
  int64_t offset = -1; // Arena: byte offset
};

struct Segment {
  kg::Function fn;       // args/outputs named after the values they carry
  std::vector<int> args; // value id of each fn.args entry
  std::vector<int> outs; // value id of each fn.outputs entry
  std::string label;     // e.g. "n51 dense+relu", for profiles
  double flops = 0;      // of its nodes
};

struct SegmentedFunction {
  std::vector<Segment> segments;
  std::vector<ValueHome> homes; // per value id
  int64_t arenaBytes = 0;
  // Outputs whose value is produced elsewhere (an argument passed through,
  // a value output twice): copied by the entry point at the end.
  std::vector<std::pair<int, int>> copies; // (output index, value id)
  // Reshapes that are views (no segment computes them): result value ->
  // the stored value whose arena slot it shares, under its own shape.
  std::map<int, int> views;
};

/// Splits `fn` (nodes in topological order) into segments. `inlining`:
/// a max_pool_grad read only by the batch-norm gradients below it, a
/// training batch norm read only by its pool and that pool's gradients, the
/// dense grad-inputs read only by the join that sums them, a first layer's
/// conv read only by its batch norm, an upsample read only by padded
/// convs and a one-channel grad-input read only by an upsample's gradient
/// are computed inline in their readers' segments (false: every result
/// stored). Either way a reshape of a stored value is a view of its
/// arena slot, not a kernel. `mergeSmall`: small units share pipelines
/// (SmallUnits.h; mtlc build does, --no-merge-small does not).
SegmentedFunction segmentFunction(const kg::Function &fn, bool inlining = true,
                                  bool mergeSmall = false);

/// The C++ source of `<cname>_argv` and `<cname>_metadata`, calling
/// `<cname>_s<k>_argv` for each segment k.
std::string segmentedEntrySource(const kg::Function &fn,
                                 const SegmentedFunction &sf,
                                 const std::string &cname);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_SEGMENTS_H
