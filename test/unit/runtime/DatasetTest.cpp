//===- DatasetTest.cpp - Loading splits and checking labels --------------===//

#include "runtime/Dataset.h"
#include "FakeModel.h"
#include "TestUtil.h"
#include "runtime/Error.h"
#include "runtime/Idx.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mtl::rt;
using mtl::rt::test::TempDir;

namespace {

std::string loadError(const Descriptor &d, const std::string &dir,
                      bool train = true) {
  try {
    loadSplit(d, dir, train, 0);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(Dataset, LoadsAndScales) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 10, 6);
  Descriptor d = Descriptor::parse(test::fakeDescriptor(tmp.dir).dump());
  Split train = loadSplit(d, "", true, 0);
  EXPECT_EQ(train.size, 10);
  EXPECT_EQ(train.imageShape, (Shape{2, 2, 1}));
  EXPECT_EQ(train.images.size(), 40u);
  for (float v : train.images)
    EXPECT_TRUE(std::abs(v - 20 / 255.0f) < 1e-6f ||
                std::abs(v - 230 / 255.0f) < 1e-6f)
        << v;
  Split test = loadSplit(d, "", false, 4); // limit
  EXPECT_EQ(test.size, 4);
  EXPECT_EQ(test.field("label")->ints.size(), 4u);
}

TEST(Dataset, DataDirOverridesDescriptor) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 8, 8);
  Descriptor d = Descriptor::parse(test::fakeDescriptor("/nonexistent").dump());
  EXPECT_EQ(loadSplit(d, tmp.dir, true, 0).size, 8);
  EXPECT_NE(loadError(d, "").find("/nonexistent/train-images.gz"),
            std::string::npos);
}

TEST(Dataset, LabelOutOfTargetMap) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 8, 8);
  writeIdx(tmp.path("train-labels.gz"), {8}, {0, 1, 2, 3, 0, 1, 7, 0}, true);
  Descriptor d = Descriptor::parse(test::fakeDescriptor(tmp.dir).dump());
  std::string msg = loadError(d, "");
  EXPECT_NE(msg.find("train-labels.gz: sample 6: label 7 has no entry in "
                     "target_map of task 'high'"),
            std::string::npos)
      << msg;
}

TEST(Dataset, LabelOutOfClassRange) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 8, 8);
  auto j = test::fakeDescriptor(tmp.dir);
  j["tasks"][1]["target_map"] = nlohmann::json::array();
  Descriptor d = Descriptor::parse(j.dump());
  std::string msg = loadError(d, "", false);
  EXPECT_NE(msg.find("test-labels: sample"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range for task 'high' with 2 classes"),
            std::string::npos)
      << msg;
}

TEST(Dataset, ShapeAndCountMismatch) {
  TempDir tmp;
  test::writeFakeData(tmp.dir, 8, 8);
  writeIdx(tmp.path("train-images.gz"), {8, 3, 2}, std::vector<uint8_t>(48, 0),
           true);
  Descriptor d = Descriptor::parse(test::fakeDescriptor(tmp.dir).dump());
  std::string msg = loadError(d, "");
  EXPECT_NE(msg.find("images are [3, 2, 1], but the model's input 'image' "
                     "expects [2, 2, 1]"),
            std::string::npos)
      << msg;
  writeIdx(tmp.path("train-images.gz"), {7, 2, 2}, std::vector<uint8_t>(28, 0),
           true);
  msg = loadError(d, "");
  EXPECT_NE(msg.find("8 labels for 7 images"), std::string::npos) << msg;
}

TEST(Dataset, FlatInputReadsImagesRowMajor) {
  // [input] shape = [4]: the 2x2 images as 4 features, in row-major order;
  // a flat input of another size is still an error.
  TempDir tmp;
  test::writeFakeData(tmp.dir, 8, 8);
  auto j = test::fakeDescriptor(tmp.dir);
  auto flatten = [&](int64_t f) {
    j["input"]["shape"] = {f};
    for (auto &[name, p] : j["pipelines"].items())
      for (auto &arg : p["args"])
        if (arg["kind"] == "input")
          arg["shape"] = {arg["shape"][0], f};
  };
  flatten(4);
  Descriptor d = Descriptor::parse(j.dump());
  Split train = loadSplit(d, "", true, 0);
  EXPECT_EQ(train.imageShape, (Shape{4}));
  EXPECT_EQ(train.images.size(), 32u);
  flatten(5);
  std::string msg = loadError(Descriptor::parse(j.dump()), "");
  EXPECT_NE(msg.find("expects [5]"), std::string::npos) << msg;
}
