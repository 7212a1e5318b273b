//===- StrategyOptions.h - What a spec's [strategy] asks of the passes ----===//
#ifndef MTL_TOOLS_MTLC_STRATEGYOPTIONS_H
#define MTL_TOOLS_MTLC_STRATEGYOPTIONS_H

#include "frontend/Spec.h"
#include "passes/Passes.h"

namespace mtl {

/// The train step's strategy options for the spec's [strategy]: run-time
/// loss weights, task joins kept (with the reason), per-task gradients.
inline StrategyOptions strategyOptions(const spec::Strategy &st) {
  StrategyOptions o;
  o.runtimeWeights = st.runtimeWeights();
  if (st.repJoin())
    o.taskJoins = st.gradient != "none" && st.on == "rep"
                      ? "gradient method '" + st.gradient + "' on 'rep'"
                      : "weighting '" + st.weighting + "'";
  o.perTaskParamGrads = st.paramGrads();
  return o;
}

} // namespace mtl

#endif // MTL_TOOLS_MTLC_STRATEGYOPTIONS_H
