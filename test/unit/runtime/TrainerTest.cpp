//===- TrainerTest.cpp - End to end: training loop and CLI on a fake model ===//

#include "runtime/Trainer.h"
#include "FakeModel.h"
#include "TestUtil.h"
#include "runtime/Checkpoint.h"
#include "runtime/Error.h"
#include "runtime/Evaluator.h"
#include "runtime/Pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace mtl::rt;
using mtl::rt::test::TempDir;
using nlohmann::json;

namespace {

struct RunResult {
  int rc;
  std::string out, err;
};

// Runs the binary's main in-process, capturing stdout and stderr.
RunResult runMain(const std::string &descriptor,
                  std::vector<std::string> args) {
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  CompiledModel model = test::fakeCompiledModel(descriptor);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int rc = mtl::rt::main(model, static_cast<int>(argv.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  RunResult r;
  r.rc = rc;
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

class TrainerTest : public testing::Test {
protected:
  void SetUp() override {
    test::writeFakeData(tmp.dir, 64, 30);
    descriptor = test::fakeDescriptor(tmp.dir).dump();
    ckpt = tmp.path("model.ckpt");
  }
  TempDir tmp;
  std::string descriptor, ckpt;
};

} // namespace

TEST_F(TrainerTest, TrainingLowersTheLoss) {
  for (const char *optimizer : {"adam", "sgd"}) {
    std::string json = test::fakeDescriptor(tmp.dir, optimizer).dump();
    Model model(test::fakeCompiledModel(json));
    Split data = loadSplit(model.desc(), "", true, 0);
    TrainOptions options;
    options.epochs = 8;
    options.lr = static_cast<float>(model.desc().train.lr);
    options.quiet = true;
    options.checkpoint = ckpt;
    auto epochs = train(model, data, options);
    ASSERT_EQ(epochs.size(), 8u);
    EXPECT_LT(epochs.back().loss, 0.5 * epochs.front().loss) << optimizer;
    EXPECT_EQ(readCheckpoint(ckpt).epoch, 8);
    EXPECT_EQ(readCheckpoint(ckpt).globalStep, 8 * 16);

    Split testSet = loadSplit(model.desc(), "", false, 0);
    EvalResult r = evaluate(model, testSet);
    EXPECT_EQ(r.samples, 30);
    EXPECT_EQ(r.tasks[1].rows(), 30);
    EXPECT_GT(r.tasks[1].accuracy(), 0.9) << optimizer;
  }
}

TEST_F(TrainerTest, DeterministicForASeed) {
  auto run = [&](uint64_t seed) {
    Model model(test::fakeCompiledModel(descriptor));
    Split data = loadSplit(model.desc(), "", true, 0);
    TrainOptions options;
    options.epochs = 2;
    options.seed = seed;
    options.quiet = true;
    train(model, data, options);
    return model.values;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

TEST_F(TrainerTest, ResumeMatchesUninterruptedRun) {
  Model a(test::fakeCompiledModel(descriptor));
  Split data = loadSplit(a.desc(), "", true, 0);
  TrainOptions options;
  options.epochs = 3;
  options.quiet = true;
  options.lr = 0.05f;
  options.checkpoint = tmp.path("a.ckpt");
  train(a, data, options);

  Model b(test::fakeCompiledModel(descriptor));
  options.checkpoint = tmp.path("b.ckpt");
  options.epochs = 1;
  train(b, data, options);
  Model c(test::fakeCompiledModel(descriptor));
  options.epochs = 3;
  options.resume = true;
  auto epochs = train(c, data, options);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs.front().epoch, 2);
  for (size_t i = 0; i < a.values.size(); ++i)
    EXPECT_FLOAT_EQ(c.values[i], a.values[i]);
}

TEST_F(TrainerTest, NanLossStopsWithoutTouchingCheckpoint) {
  Model model(test::fakeCompiledModel(descriptor));
  Split data = loadSplit(model.desc(), "", true, 0);
  TrainOptions options;
  options.epochs = 1;
  options.quiet = true;
  options.checkpoint = ckpt;
  train(model, data, options);
  std::string before = test::readFile(ckpt);
  options.epochs = 2;
  options.resume = true;
  test::fakeProduceNaN = true;
  try {
    train(model, data, options);
    ADD_FAILURE() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("loss of task 'value' is nan"),
              std::string::npos)
        << e.what();
  }
  test::fakeProduceNaN = false;
  EXPECT_EQ(test::readFile(ckpt), before);
}

TEST_F(TrainerTest, CliTrainEvalPredictInfo) {
  RunResult r = runMain(descriptor, {"model", "train", "--epochs", "4",
                                     "--checkpoint", ckpt, "--seed", "5"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 4/4: loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("samples/s"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  r = runMain(descriptor, {"model", "eval", "--json", "--checkpoint", ckpt});
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out); // stdout holds only the JSON object
  EXPECT_EQ(j["model"], "fake_mtl");
  EXPECT_EQ(j["samples"], 30);
  EXPECT_TRUE(j["tasks"]["high"].contains("accuracy"));
  EXPECT_TRUE(j["tasks"]["high"].contains("loss"));
  EXPECT_TRUE(j["tasks"]["value"].contains("mse"));

  r = runMain(descriptor,
              {"model", "eval", "--checkpoint", ckpt, "--limit-test", "10"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("10 test samples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("high"), std::string::npos);

  r = runMain(descriptor, {"model", "predict", "--checkpoint", ckpt, "--index",
                           "3", "--count", "6", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  j = json::parse(r.out);
  ASSERT_EQ(j["predictions"].size(), 6u);
  EXPECT_EQ(j["predictions"][0]["index"], 3);
  EXPECT_TRUE(j["predictions"][5]["tasks"]["high"].contains("class"));

  r = runMain(descriptor, {"model", "predict", "--checkpoint", ckpt});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("sample 0"), std::string::npos) << r.out;

  r = runMain(descriptor, {"model", "info"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("fake_mtl"), std::string::npos);
  EXPECT_NE(r.out.find("15 values"), std::string::npos) << r.out;

  r = runMain(descriptor, {"model", "bench", "--steps", "5", "--warmup", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("train_step:"), std::string::npos);
  EXPECT_NE(r.out.find("samples/s (batch 4,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of which the optimizer update: "), std::string::npos)
      << r.out;

  r = runMain(descriptor, {"model", "train", "--epochs", "5", "--resume",
                           "--checkpoint", ckpt, "--quiet"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(readCheckpoint(ckpt).epoch, 5);
}

TEST_F(TrainerTest, CliErrors) {
  RunResult r = runMain(
      descriptor, {"model", "eval", "--checkpoint", tmp.path("missing.ckpt")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("model: error: no checkpoint at"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("run `model train` first"), std::string::npos);

  r = runMain(descriptor, {"model", "train", "--epochs", "zero"});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("model: error:", 0), 0u) << r.err;

  r = runMain(descriptor, {"model", "train", "--keep-best", "--checkpoint",
                           tmp.path("kb.ckpt")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("model: error: --keep-best needs a validation split"),
            std::string::npos)
      << r.err;

  r = runMain(descriptor, {"model", "frobnicate"});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("model: error:", 0), 0u) << r.err;

  r = runMain(descriptor, {"model"});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("model: error:", 0), 0u) << r.err;

  r = runMain(descriptor, {"model", "train", "--data-dir", tmp.path("nodata"),
                           "--checkpoint", ckpt});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("nodata/train-images.gz: cannot open"),
            std::string::npos)
      << r.err;

  test::writeFile(ckpt, "not a checkpoint");
  r = runMain(descriptor, {"model", "eval", "--checkpoint", ckpt});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("bad magic"), std::string::npos) << r.err;

  r = runMain("{\"version\": 1}", {"model", "info"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("model: error: descriptor: missing field"),
            std::string::npos)
      << r.err;

  r = runMain(descriptor, {"model", "--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("train"), std::string::npos);
}

TEST_F(TrainerTest, DataDirFromEnvironment) {
  auto j = test::fakeDescriptor("/nonexistent");
  std::string d = j.dump();
  setenv("MTL_DATA_DIR", tmp.dir.c_str(), 1);
  RunResult r = runMain(
      d, {"model", "train", "--epochs", "1", "--checkpoint", ckpt, "--quiet"});
  unsetenv("MTL_DATA_DIR");
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(TrainerTest, MetadataArgumentCountIsChecked) {
  auto j = test::fakeDescriptor(tmp.dir);
  j["pipelines"]["train_step"]["outputs"].erase(7); // drop grad bc
  std::string d = j.dump();
  RunResult r = runMain(d, {"model", "info"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("pipeline 'train_step' takes 17 buffers, but the "
                       "descriptor lists 9 arguments and 7 outputs"),
            std::string::npos)
      << r.err;
}

TEST_F(TrainerTest, UnlabelledSamplesAreMaskedPerTask) {
  auto j = test::fakeDescriptor(tmp.dir);
  j["tasks"][1]["target_map"] = {0, -1, 1, -1};
  std::string d = j.dump();
  Model model(test::fakeCompiledModel(d));
  Pipeline pipeline(model, "train_step");
  Batch batch;
  batch.rows = 3;
  batch.indices = {0, 1, 2, -1};
  batch.images.assign(16, 0.5f);
  Field label;
  label.name = "label";
  label.ints = {2, 1, 0, -1};
  batch.fields = {label};
  batch.mask = {1, 1, 1, 0};
  pipeline.setBatch(batch);
  TaskBatch high = pipeline.taskBatch(1), value = pipeline.taskBatch(0);
  EXPECT_EQ(std::vector<float>(high.mask, high.mask + 4),
            (std::vector<float>{1, 0, 1, 0}));
  EXPECT_EQ(std::vector<int32_t>(high.classes, high.classes + 4),
            (std::vector<int32_t>{1, 0, 0, 0}));
  EXPECT_EQ(std::vector<float>(value.mask, value.mask + 4),
            (std::vector<float>{1, 1, 1, 0}));
  EXPECT_EQ(std::vector<float>(value.values, value.values + 3),
            (std::vector<float>{2, 1, 0}));
  pipeline.run();
  EXPECT_TRUE(std::isfinite(pipeline.loss(1)));
}

TEST_F(TrainerTest, KeepBestKeepsTheLowestValidationLoss) {
  json j = test::fakeDescriptor(tmp.dir);
  j["data"]["validation"] = 0.25;
  auto run = [&](int64_t epochs, bool resume) {
    Model model(test::fakeCompiledModel(j.dump()));
    TrainingData data = loadTraining(model.desc(), "", 0);
    TrainOptions options;
    options.epochs = epochs;
    options.lr = 0.05f;
    options.quiet = true;
    options.checkpoint = ckpt;
    options.resume = resume;
    options.keepBest = true;
    options.validation = &data.validation;
    return std::make_pair(train(model, data.train, options), model.desc());
  };
  auto [first, desc] = run(2, false);
  auto [rest, desc2] = run(5, true);
  first.insert(first.end(), rest.begin(), rest.end());
  ASSERT_EQ(first.size(), 5u);
  // The expected best: the weighted sum of the tasks' validation losses.
  int64_t bestEpoch = 0;
  double bestLoss = 0;
  for (const EpochSummary &s : first) {
    double loss = 0;
    for (size_t t = 0; t < s.validation.size(); ++t)
      for (const auto &[name, value] : s.validation[t])
        if (name == "loss")
          loss += desc.tasks[t].weight * value;
    if (bestEpoch == 0 || loss < bestLoss)
      bestEpoch = s.epoch, bestLoss = loss;
  }
  CheckpointState last = readCheckpoint(ckpt),
                  best = readCheckpoint(ckpt + ".best");
  EXPECT_EQ(last.epoch, 5);
  EXPECT_EQ(last.bestEpoch, bestEpoch);
  EXPECT_NEAR(last.bestValidationLoss, bestLoss, 1e-9 + 1e-6 * bestLoss);
  EXPECT_EQ(best.epoch, bestEpoch);
  EXPECT_EQ(best.bestEpoch, bestEpoch);
  if (bestEpoch != 5)
    EXPECT_NE(best.values, last.values);
}

TEST_F(TrainerTest, KeepBestNeedsAValidationSplit) {
  Model model(test::fakeCompiledModel(descriptor));
  Split data = loadSplit(model.desc(), "", true, 0);
  TrainOptions options;
  options.quiet = true;
  options.checkpoint = ckpt;
  options.keepBest = true;
  try {
    train(model, data, options);
    ADD_FAILURE() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(
        std::string(e.what()).find("--keep-best needs a validation split"),
        std::string::npos)
        << e.what();
  }
  std::ifstream f(ckpt);
  EXPECT_FALSE(f.good());
}
