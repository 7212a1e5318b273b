//===- Explore.h - mtlc explore: compare fusion variants --------*- C++ -*-===//
#ifndef MTL_TOOLS_MTLC_EXPLORE_H
#define MTL_TOOLS_MTLC_EXPLORE_H

#include <string>
#include <vector>

namespace mtl {

struct ExploreOptions {
  std::string spec;
  int steps = 10;  // timed train steps per variant (after one warm-up)
  int threads = 2; // for the FMA peak (the pipelines use Halide's pool)
  bool json = false;
  /// Autoschedulers (CodegenOptions::schedule names) each run as one more
  /// variant: all fusions, schedules by Halide instead of codegen/ops.
  std::vector<std::string> autoschedulers = {"auto"};
  /// Gradient methods (pcgrad, mgda_ub, cagrad, imtl_g), each run as one
  /// more variant: the spec's step with that method at the shared
  /// representation (task joins kept, the runtime's combine called back);
  /// `method:param` places it on the shared parameters instead (one
  /// backbone sweep per task, then the runtime's combine over them).
  std::vector<std::string> gradients;
};

/// Builds every fusion variant of the spec's train step (all on; each pass
/// off in turn; all off; all on with each of `autoschedulers`), runs each on
/// the same parameters and batch, and prints ms/step, GFLOP/s, % of the
/// measured peak, kernels per step, the planned peak memory and the largest
/// relative difference of any loss, prediction or gradient from the all-off
/// build. Returns the exit code.
int explore(const ExploreOptions &options);

} // namespace mtl

#endif // MTL_TOOLS_MTLC_EXPLORE_H
