//===- AutoSchedule.h - Halide's autoschedulers as a schedule option -----===//
//
// Internal to codegen/ (includes Halide.h). `--schedule=auto` replaces the
// hand-written schedules of codegen/ops with one of Halide's
// autoschedulers, loaded from Debian's libhalide14 plugins: Mullapudi2016
// (CPU default) or Li2018 (gradient pipelines; GPU only: Halide 14's x86
// backend rejects its atomic stores). Adams2019 is left out: on the
// reference spec it ran 15 minutes without producing a binary, and on a
// small train step it died after 6 minutes in its beam search. The op lowerings
// define and schedule their Funcs together, so the hand schedules are stripped
// from every Function of the pipeline first (Halide's autoschedulers refuse
// partial schedules), then estimates are set on every argument and output
// (their shapes are static).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_AUTOSCHEDULE_H
#define MTL_CODEGEN_AUTOSCHEDULE_H

#include "codegen/Lowering.h"

#include <string>

namespace mtl::codegen {

/// The Halide autoscheduler that the schedule option `schedule` names for a
/// target ("" = the hand-written schedules): "heuristic" -> "",
/// "auto" -> Mullapudi2016 (CPU) / Li2018 (GPU), or one of those names
/// (case-insensitive). Throws LoweringError for an unknown name.
std::string autoschedulerFor(const std::string &schedule, bool gpu);

/// Resets every Function reachable from `lf`'s outputs to Halide's default
/// schedule (inlined, no splits, loops in definition order, no bounds,
/// wrappers, specializations or compute_with); estimates are kept.
void stripSchedules(LoweredFunction &lf);

/// Strips `lf`'s schedules and applies the autoscheduler `name` for
/// `target`. Throws LoweringError when the plugin cannot be loaded.
void autoSchedule(LoweredFunction &lf, const kg::Function &fn,
                  const Halide::Target &target, const std::string &name);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_AUTOSCHEDULE_H
