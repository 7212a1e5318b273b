//===- CheckpointTest.cpp - Round trip, corruption, atomic replacement ---===//

#include "runtime/Checkpoint.h"
#include "FakeModel.h"
#include "TestUtil.h"
#include "runtime/Error.h"
#include "runtime/Model.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace mtl::rt;
using mtl::rt::test::TempDir;

namespace {

CheckpointState sample() {
  CheckpointState s;
  s.model = "fake_mtl";
  s.params = {{"w", {4}}, {"b", {1}}, {"wc", {4, 2}}, {"bc", {2}}};
  for (int i = 0; i < 15; ++i)
    s.values.push_back(0.25f * i - 1.0f);
  s.optimizer = "adam";
  s.optimizerSteps = 42;
  s.optimizerState = {{"m", std::vector<float>(15, 0.5f)},
                      {"v", std::vector<float>(15, 0.125f)}};
  s.epoch = 3;
  s.globalStep = 42;
  s.seed = 7;
  return s;
}

std::string readError(const std::string &path) {
  try {
    readCheckpoint(path);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(Checkpoint, RoundTrip) {
  TempDir tmp;
  std::string path = tmp.path("m.ckpt");
  CheckpointState s = sample();
  writeCheckpoint(path, s);
  CheckpointState r = readCheckpoint(path);
  EXPECT_EQ(r.model, s.model);
  EXPECT_EQ(r.params, s.params);
  EXPECT_EQ(r.values, s.values);
  EXPECT_EQ(r.optimizer, "adam");
  EXPECT_EQ(r.optimizerSteps, 42);
  EXPECT_EQ(r.optimizerState, s.optimizerState);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.globalStep, 42);
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(mtl::rt::test::readFile(path).substr(0, 8), "MTLCKPT1");
  struct stat st;
  EXPECT_NE(::stat((path + ".tmp").c_str(), &st), 0); // no leftover
}

TEST(Checkpoint, RestoresModelAndOptimizer) {
  TempDir tmp;
  std::string json = test::fakeDescriptor(tmp.dir).dump();
  Model model(test::fakeCompiledModel(json));
  model.initParams(1);
  OptimizerConfig c;
  auto opt = makeOptimizer(c, model.values.size());
  std::vector<float> grads(model.values.size(), 0.3f);
  opt->step(model.values.data(), grads.data());
  writeCheckpoint(tmp.path("c"), model.snapshot(*opt, 1, 5, 7));

  Model other(test::fakeCompiledModel(json));
  auto opt2 = makeOptimizer(c, other.values.size());
  other.restore(readCheckpoint(tmp.path("c")), opt2.get(), tmp.path("c"));
  // Parameters without the alignment padding (which a real gradient keeps 0).
  EXPECT_EQ(other.snapshot(*opt2, 1, 5, 7).values,
            model.snapshot(*opt, 1, 5, 7).values);
  EXPECT_EQ(opt2->steps(), 1);
  EXPECT_EQ(*opt2->state()[0].second, *opt->state()[0].second);
  EXPECT_EQ(*opt2->state()[1].second, *opt->state()[1].second);

  c.kind = "sgd";
  auto sgd = makeOptimizer(c, other.values.size());
  try {
    other.restore(readCheckpoint(tmp.path("c")), sgd.get(), tmp.path("c"));
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("trained with adam, this run uses "
                                         "sgd"),
              std::string::npos);
  }
}

TEST(Checkpoint, FlippedByteFailsCrc) {
  TempDir tmp;
  std::string path = tmp.path("m.ckpt");
  writeCheckpoint(path, sample());
  std::string bytes = mtl::rt::test::readFile(path);
  for (size_t at : {size_t(20), bytes.size() - 30}) {
    std::string bad = bytes;
    bad[at] ^= 0x10;
    mtl::rt::test::writeFile(path, bad);
    std::string msg = readError(path);
    EXPECT_NE(msg.find("CRC32 mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  mtl::rt::test::writeFile(path, "GARBAGE!" + bytes.substr(8));
  EXPECT_NE(readError(path).find("bad magic"), std::string::npos);
  mtl::rt::test::writeFile(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(readError(path).find("CRC32 mismatch"), std::string::npos);
  EXPECT_NE(readError(tmp.path("none")).find("cannot open"), std::string::npos);
}

TEST(Checkpoint, MismatchedModelOrShapes) {
  TempDir tmp;
  Descriptor d = Descriptor::parse(test::fakeDescriptor(tmp.dir).dump());
  CheckpointState s = sample();
  EXPECT_NO_THROW(checkCompatible(s, d, "p"));
  auto errorOf = [&](const CheckpointState &st) -> std::string {
    try {
      checkCompatible(st, d, "/x/m.ckpt");
    } catch (const Error &e) {
      return e.what();
    }
    return "";
  };
  CheckpointState wrongShape = s;
  wrongShape.params[2].second = {2, 4};
  EXPECT_NE(errorOf(wrongShape)
                .find("/x/m.ckpt: parameter 'wc' has shape [2, 4] in the "
                      "checkpoint, the model expects [4, 2]"),
            std::string::npos)
      << errorOf(wrongShape);
  CheckpointState wrongModel = s;
  wrongModel.model = "other";
  EXPECT_NE(errorOf(wrongModel).find("checkpoint is for model 'other'"),
            std::string::npos);
  CheckpointState wrongName = s;
  wrongName.params[0].first = "w0";
  EXPECT_NE(errorOf(wrongName).find("is 'w0', the model expects 'w'"),
            std::string::npos);
}

TEST(Checkpoint, FailedWriteKeepsOldFile) {
  TempDir tmp;
  std::string path = tmp.path("m.ckpt");
  CheckpointState good = sample();
  writeCheckpoint(path, good);
  std::string before = mtl::rt::test::readFile(path);
  // Simulate a failing write (works as root too): the temporary file's name
  // is taken by a directory, so it cannot be created.
  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0755), 0);
  CheckpointState next = sample();
  next.epoch = 4;
  EXPECT_THROW(writeCheckpoint(path, next), Error);
  EXPECT_EQ(mtl::rt::test::readFile(path), before);
  EXPECT_EQ(readCheckpoint(path).epoch, 3);
  // Writing into a directory that does not exist fails cleanly too.
  EXPECT_THROW(writeCheckpoint(tmp.path("no/such/dir/m.ckpt"), good), Error);
}
