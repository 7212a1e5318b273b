//===- CheckpointStrategyTest.cpp - Strategy state in checkpoints ---------===//

#include "runtime/Checkpoint.h"
#include "runtime/Error.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mtl::rt;

namespace {

std::string tempPath(const char *name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("mtl_strategy_") + std::to_string(::getpid()) + name))
      .string();
}

CheckpointState sample() {
  CheckpointState s;
  s.model = "m";
  s.params = {{"w", {2}}};
  s.values = {1.0f, 2.0f};
  s.optimizer = "sgd";
  s.optimizerState = {{"velocity", {0.5f, 0.25f}}};
  s.strategyState = {{"uncertainty.log_var", {0.1f, -0.2f}},
                     {"dwa.history", {1.0f, 2.0f, 3.0f, 4.0f, 2.0f}}};
  return s;
}

TEST(CheckpointStrategy, RoundTrip) {
  std::string path = tempPath("rt.ckpt");
  writeCheckpoint(path, sample());
  CheckpointState r = readCheckpoint(path);
  ASSERT_EQ(r.strategyState.size(), 2u);
  EXPECT_EQ(r.strategyState[0].first, "uncertainty.log_var");
  EXPECT_EQ(r.strategyState[0].second, (std::vector<float>{0.1f, -0.2f}));
  EXPECT_EQ(r.strategyState[1].second.size(), 5u);
  EXPECT_EQ(r.optimizerState[0].second, (std::vector<float>{0.5f, 0.25f}));
  EXPECT_EQ(r.values, (std::vector<float>{1.0f, 2.0f}));
  std::remove(path.c_str());
}

// The CRC covers the strategy state too.
TEST(CheckpointStrategy, CorruptStateIsDetected) {
  std::string path = tempPath("bad.ckpt");
  writeCheckpoint(path, sample());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-8, std::ios::end); // inside the last strategy float
  f.put('\x7f');
  f.close();
  EXPECT_THROW(readCheckpoint(path), Error);
  std::remove(path.c_str());
}

} // namespace
