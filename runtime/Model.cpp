//===- Model.cpp - The descriptor, the pipelines and the parameters ------===//

#include "runtime/Model.h"
#include "runtime/Error.h"
#include "runtime/Init.h"

#include <HalideRuntime.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace mtl::rt {

Model::Model(const CompiledModel &compiled)
    : descriptor(Descriptor::parse(
          compiled.descriptorJson ? compiled.descriptorJson : "")) {
  int64_t offset = 0;
  for (const ParamSpec &p : descriptor.params) {
    offsets.push_back(offset);
    offset += alignedCount<float>(numElements(p.shape));
  }
  values.assign(offset, 0.0f);
  grads.assign(offset, 0.0f);
  offset = 0;
  for (const StateSpec &st : descriptor.states) {
    stateOffsets.push_back(offset);
    offset += alignedCount<float>(numElements(st.shape));
  }
  stateValues.assign(offset, 0.0f);
  initStates();

  for (int i = 0; i < compiled.numPipelines; ++i) {
    const PipelineEntry &e = compiled.pipelines[i];
    if (!e.name || !e.argv)
      fail("pipeline entry {} has no name or function", i);
    auto it = descriptor.pipelines.find(e.name);
    if (it == descriptor.pipelines.end())
      fail("pipeline '{}' is linked but not in the descriptor", e.name);
    size_t expected = it->second.args.size() + it->second.outputs.size();
    const halide_filter_metadata_t *md = e.metadata ? e.metadata() : nullptr;
    if (md && static_cast<size_t>(md->num_arguments) != expected)
      fail("pipeline '{}' takes {} buffers, but the descriptor lists {} "
           "arguments and {} outputs: the binary and its descriptor disagree",
           e.name, md->num_arguments, it->second.args.size(),
           it->second.outputs.size());
    entries.push_back(e);
  }
}

bool Model::hasPipeline(const std::string &name) const {
  if (!descriptor.pipeline(name))
    return false;
  for (const PipelineEntry &e : entries)
    if (name == e.name)
      return true;
  return false;
}

const PipelineEntry &Model::entry(const std::string &name) const {
  for (const PipelineEntry &e : entries)
    if (name == e.name)
      return e;
  fail("model '{}' was built without a '{}' pipeline", descriptor.model, name);
}

const PipelineSpec &Model::pipeline(const std::string &name) const {
  const PipelineSpec *spec = descriptor.pipeline(name);
  if (!spec)
    fail("model '{}' was built without a '{}' pipeline", descriptor.model,
         name);
  return *spec;
}

size_t Model::paramIndex(const std::string &name) const {
  for (size_t i = 0; i < descriptor.params.size(); ++i)
    if (descriptor.params[i].name == name)
      return i;
  fail("unknown parameter '{}'", name);
}

size_t Model::stateIndex(const std::string &name) const {
  for (size_t i = 0; i < descriptor.states.size(); ++i)
    if (descriptor.states[i].name == name)
      return i;
  fail("unknown state '{}'", name);
}

void Model::initParams(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < descriptor.params.size(); ++i)
    initParam(descriptor.params[i], param(i), rng);
  initStates();
}

void Model::initStates() {
  for (size_t i = 0; i < descriptor.states.size(); ++i) {
    const StateSpec &st = descriptor.states[i];
    std::fill_n(state(i), numElements(st.shape),
                st.init == "ones" ? 1.0f : 0.0f);
  }
}

CheckpointState Model::snapshot(Optimizer &opt, int64_t epoch, int64_t step,
                                uint64_t seed) const {
  CheckpointState s;
  s.model = descriptor.model;
  for (const ParamSpec &p : descriptor.params)
    s.params.emplace_back(p.name, p.shape);
  for (size_t i = 0; i < descriptor.params.size(); ++i) {
    const float *p = values.data() + offsets[i];
    s.values.insert(s.values.end(), p,
                    p + numElements(descriptor.params[i].shape));
  }
  for (size_t i = 0; i < descriptor.states.size(); ++i) {
    const StateSpec &st = descriptor.states[i];
    s.states.emplace_back(st.name, st.shape);
    s.stateValues.insert(s.stateValues.end(), state(i),
                         state(i) + numElements(st.shape));
  }
  s.optimizer = opt.kind();
  s.optimizerSteps = opt.steps();
  for (auto &[name, data] : opt.state())
    s.optimizerState.emplace_back(name, *data);
  s.epoch = epoch;
  s.globalStep = step;
  s.seed = seed;
  return s;
}

void Model::restore(const CheckpointState &state, Optimizer *opt,
                    const std::string &path) {
  checkCompatible(state, descriptor, path);
  const float *src = state.values.data();
  for (size_t i = 0; i < descriptor.params.size(); ++i) {
    int64_t n = numElements(descriptor.params[i].shape);
    std::copy(src, src + n, values.data() + offsets[i]);
    src += n;
  }
  src = state.stateValues.data();
  for (size_t i = 0; i < descriptor.states.size(); ++i) {
    int64_t n = numElements(descriptor.states[i].shape);
    std::copy(src, src + n, this->state(i));
    src += n;
  }
  if (!opt)
    return;
  if (state.optimizer != opt->kind())
    fail("{}: checkpoint was trained with {}, this run uses {}", path,
         state.optimizer, opt->kind());
  auto slots = opt->state();
  if (slots.size() != state.optimizerState.size())
    fail("{}: checkpoint has {} optimizer state arrays, {} expects {}", path,
         state.optimizerState.size(), opt->kind(), slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const auto &[name, data] = state.optimizerState[i];
    if (name != slots[i].first || data.size() != slots[i].second->size())
      fail("{}: optimizer state '{}' does not match this model", path, name);
    *slots[i].second = data;
  }
  opt->setSteps(state.optimizerSteps);
}

} // namespace mtl::rt
