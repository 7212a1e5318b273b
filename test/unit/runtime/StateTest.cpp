//===- StateTest.cpp - state, state_out and seed pipeline arguments -------===//
//
// A fake model whose train_step reads a state and a seed and outputs the
// state's new value (state + 1): after N steps the state is init + N, it is
// saved in and restored from checkpoints, and every step sees its own seed.

#include "FakeModel.h"
#include "TestUtil.h"
#include "runtime/Checkpoint.h"
#include "runtime/Error.h"
#include "runtime/Evaluator.h"
#include "runtime/Pipeline.h"
#include "runtime/Trainer.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <set>

using namespace mtl::rt;
using mtl::rt::test::TempDir;
using nlohmann::json;

namespace {

constexpr int B = 4;
std::vector<int32_t> seenSeeds;
std::vector<float> seenStates; // the state each eval_step call read

float *f32(void *a) {
  return reinterpret_cast<float *>(static_cast<halide_buffer_t *>(a)->host);
}
int32_t *i32(void *a) {
  return reinterpret_cast<int32_t *>(static_cast<halide_buffer_t *>(a)->host);
}

// args: image, target, mask, w, running, seed; outputs: loss, pred[, grad w,
// running'].
void step(void **a, bool train) {
  const float *x = f32(a[0]), *y = f32(a[1]), *m = f32(a[2]), *w = f32(a[3]);
  const float *running = f32(a[4]);
  int32_t seed = *i32(a[5]);
  float *loss = f32(a[6]), *pred = f32(a[7]);
  float n = 0, l = 0, g = 0;
  for (int r = 0; r < B; ++r) {
    pred[r] = w[0] * x[r * 4];
    n += m[r];
    l += m[r] * (pred[r] - y[r]) * (pred[r] - y[r]);
    g += m[r] * 2 * (pred[r] - y[r]) * x[r * 4];
  }
  *loss = l / std::max(n, 1.0f);
  seenSeeds.push_back(seed);
  if (!train) {
    seenStates.push_back(running[0]);
    return;
  }
  f32(a[8])[0] = g / std::max(n, 1.0f);
  f32(a[9])[0] = running[0] + 1.0f;
}

int trainStep(void **a) {
  step(a, true);
  return 0;
}
int evalStep(void **a) {
  step(a, false);
  return 0;
}

json tensor(const char *kind, const char *name, json shape,
            const char *dtype = "f32") {
  return {{"kind", kind}, {"name", name}, {"shape", shape}, {"dtype", dtype}};
}

json stateDescriptor(const std::string &dir) {
  json j = test::fakeDescriptor(dir);
  j["tasks"] = json::array({j["tasks"][0]});
  j["params"] = {{{"name", "w"}, {"shape", {1}}, {"init", "zeros"}}};
  j["states"] = {{{"name", "running"}, {"shape", {1}}, {"init", "ones"}}};
  json args = {tensor("input", "image", {B, 2, 2, 1}),
               tensor("target", "value", {B}),
               tensor("mask", "value", {B}),
               tensor("param", "w", {1}),
               tensor("state", "running", {1}),
               tensor("seed", "seed", json::array(), "i32")};
  json outs = {tensor("loss", "value", json::array()),
               tensor("prediction", "value", {B, 1})};
  json trainOuts = outs;
  trainOuts.push_back(tensor("grad", "w", {1}));
  trainOuts.push_back(tensor("state_out", "running", {1}));
  j["pipelines"] = {{"train_step", {{"args", args}, {"outputs", trainOuts}}},
                    {"eval_step", {{"args", args}, {"outputs", outs}}}};
  return j;
}

CompiledModel stateModel(const std::string &json) {
  static const PipelineEntry entries[] = {{"train_step", trainStep, nullptr},
                                          {"eval_step", evalStep, nullptr}};
  return CompiledModel{json.c_str(), entries, 2};
}

std::string parseError(const json &j) {
  try {
    Descriptor::parse(j.dump());
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(State, DescriptorChecksStatesAndSeed) {
  json j = stateDescriptor("/tmp");
  Descriptor d = Descriptor::parse(j.dump());
  ASSERT_EQ(d.states.size(), 1u);
  EXPECT_EQ(d.states[0].init, "ones");
  EXPECT_EQ(d.pipeline("train_step")->outputs[3].kind, ArgKind::StateOut);

  json bad = j;
  bad["pipelines"]["train_step"]["args"][4]["name"] = "nope";
  EXPECT_NE(parseError(bad).find("unknown state 'nope'"), std::string::npos);
  bad = j;
  bad["pipelines"]["train_step"]["args"][5]["dtype"] = "f32";
  EXPECT_NE(parseError(bad).find("(seed 'seed') is f32 [], expected i32 []"),
            std::string::npos)
      << parseError(bad);
  bad = j;
  bad["pipelines"]["eval_step"]["args"].push_back(
      tensor("state_out", "running", {1}));
  EXPECT_NE(parseError(bad).find("kind 'state_out' cannot be a pipeline "
                                 "argument"),
            std::string::npos);
  bad = j;
  bad["states"][0]["init"] = "he_normal";
  EXPECT_NE(parseError(bad).find("unknown state initializer 'he_normal'"),
            std::string::npos);
  bad = j;
  bad["states"].push_back(bad["states"][0]);
  EXPECT_NE(parseError(bad).find("duplicate state 'running'"),
            std::string::npos);
}

TEST(State, StatesAreAlignedAndInitialized) {
  json j = stateDescriptor("/tmp");
  j["states"].push_back({{"name", "other"}, {"shape", {3}}});
  std::string s = j.dump();
  Model model(stateModel(s));
  EXPECT_EQ(model.state(0)[0], 1.0f);
  EXPECT_EQ(model.state(1)[0], 0.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(model.state(1)) % kBufferAlignment, 0u);
}

TEST(State, TrainCopiesStateOutSavesItAndSeedsEachStep) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 16, 8); // 4 steps per epoch
  std::string s = stateDescriptor(tmp.dir).dump();
  std::string ckpt = tmp.path("m.ckpt");
  {
    Model model(stateModel(s));
    Split data = loadSplit(model.desc(), "", true, 0);
    TrainOptions o;
    o.epochs = 2;
    o.seed = 5;
    o.quiet = true;
    o.checkpoint = ckpt;
    seenSeeds.clear();
    train(model, data, o);
    EXPECT_EQ(model.state(0)[0], 1.0f + 8); // init ones + one per step
    ASSERT_EQ(seenSeeds.size(), 8u);
    std::set<int32_t> distinct(seenSeeds.begin(), seenSeeds.end());
    EXPECT_EQ(distinct.size(), 8u);
    for (int k = 0; k < 8; ++k) {
      EXPECT_EQ(seenSeeds[k], stepSeed(5, k));
      EXPECT_GE(seenSeeds[k], 0);
    }
    CheckpointState c = readCheckpoint(ckpt);
    ASSERT_EQ(c.states.size(), 1u);
    EXPECT_EQ(c.states[0].first, "running");
    EXPECT_EQ(c.stateValues, std::vector<float>{9.0f});
  }
  {
    // Resume: the state comes back from the checkpoint, seeds continue.
    Model model(stateModel(s));
    Split data = loadSplit(model.desc(), "", true, 0);
    TrainOptions o;
    o.epochs = 3;
    o.quiet = true;
    o.resume = true;
    o.checkpoint = ckpt;
    seenSeeds.clear();
    train(model, data, o);
    EXPECT_EQ(model.state(0)[0], 13.0f);
    ASSERT_EQ(seenSeeds.size(), 4u);
    EXPECT_EQ(seenSeeds[0], stepSeed(5, 8));
  }
  {
    // Eval reads the restored state and a fixed seed.
    Model model(stateModel(s));
    model.restore(readCheckpoint(ckpt), nullptr, ckpt);
    seenSeeds.clear();
    seenStates.clear();
    evaluate(model, loadSplit(model.desc(), "", false, 0));
    ASSERT_EQ(seenStates.size(), 2u);
    EXPECT_EQ(seenStates[0], 13.0f);
    EXPECT_EQ(seenSeeds, (std::vector<int32_t>{kEvalSeed, kEvalSeed}));
  }
}

TEST(State, CheckpointStateMismatchIsAnError) {
  TempDir tmp;
  std::string s = stateDescriptor(tmp.dir).dump();
  Model model(stateModel(s));
  CheckpointState c = model.snapshot(
      *makeOptimizer(OptimizerConfig::from(model.desc().train), 1), 0, 0, 1);
  c.states[0].second = {2};
  c.stateValues = {1, 2};
  try {
    model.restore(c, nullptr, "x.ckpt");
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("x.ckpt: checkpoint state 0 is "
                                         "'running' [2], the model expects "
                                         "'running' [1]"),
              std::string::npos)
        << e.what();
  }
}
