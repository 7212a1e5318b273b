//===- RunStrategy.cpp - The strategy of one training run -----------------===//

#include "runtime/strategy/RunStrategy.h"
#include "runtime/Error.h"

#include <algorithm>
#include <map>

namespace mtl::rt::strategy {

RunStrategy::RunStrategy(Model &model, Pipeline &trainStep,
                         const std::string &weighting,
                         const std::string &gradient,
                         const OptimizerConfig &opt, uint64_t seed)
    : pipeline(trainStep) {
  const Descriptor &d = model.desc();
  StrategyConfig sc = d.strategy;

  // What the compiled step supports (docs/strategies.md): run-time weights,
  // task joins calling back, per-task gradients of the shared parameters.
  std::map<size_t, std::vector<std::pair<size_t, const float *>>> byParam;
  for (const Pipeline::TaskGrad &g : pipeline.taskGrads())
    byParam[g.param].emplace_back(g.task, g.data);
  const bool repJoin =
      (sc.gradient != "none" && sc.on == "rep") || sc.weighting == "gradnorm";
  const bool perTask = !byParam.empty();
  if (!weighting.empty() && weighting != sc.weighting) {
    if (!pipeline.takesLossWeights())
      fail("--weighting {}: this binary was built with static loss weights; "
           "give the spec a [strategy] to build it with run-time weights",
           weighting);
    if (weighting == "gradnorm" && !repJoin && !perTask)
      fail("--weighting gradnorm needs per-task gradients: build with a "
           "gradient method, or weighting = \"gradnorm\"");
    sc.weighting = weighting;
  }
  if (!gradient.empty() && gradient != sc.gradient) {
    if (gradient != "none" && !repJoin && !perTask)
      fail("--gradient {}: this binary was built without per-task gradients; "
           "set [strategy] gradient in the spec",
           gradient);
    sc.gradient = gradient;
  }

  std::vector<double> staticWeights;
  for (const TaskSpec &t : d.tasks)
    staticWeights.push_back(t.weight);
  strategy = std::make_unique<TaskStrategy>(sc, staticWeights, opt, seed);
  setActiveStrategy(strategy.get());

  for (auto &[param, grads] : byParam) {
    std::sort(grads.begin(), grads.end());
    std::vector<const float *> ptrs;
    for (auto &[task, data] : grads)
      ptrs.push_back(data);
    blocks.push_back(ptrs);
    sizes.push_back(numElements(d.params[param].shape));
    outs.push_back(model.grad(param));
  }
}

RunStrategy::~RunStrategy() { setActiveStrategy(nullptr); }

void RunStrategy::restore(const CheckpointState &state,
                          const std::string &path) {
  for (auto &[name, data] : strategy->state()) {
    auto it =
        std::find_if(state.strategyState.begin(), state.strategyState.end(),
                     [&](const auto &e) { return e.first == name; });
    if (it == state.strategyState.end() || it->second.size() != data->size())
      fail("{}: checkpoint has no strategy state '{}' of {} values (was it "
           "trained with weighting '{}'?)",
           path, name, data->size(), strategy->config().weighting);
    *data = it->second;
  }
  strategy->restored();
}

void RunStrategy::save(CheckpointState &state) {
  for (auto &[name, data] : strategy->state())
    state.strategyState.emplace_back(name, *data);
}

void RunStrategy::beforeStep(int64_t step) {
  pipeline.setLossWeights(strategy->beginStep(step));
}

void RunStrategy::afterRun() {
  if (!blocks.empty())
    strategy->combineBlocks(blocks, sizes, outs);
}

void RunStrategy::afterStep(const std::vector<float> &losses) {
  strategy->afterStep(losses);
}

} // namespace mtl::rt::strategy
