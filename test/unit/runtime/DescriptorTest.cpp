//===- DescriptorTest.cpp - Descriptor parsing and validation ------------===//

#include "runtime/Descriptor.h"
#include "FakeModel.h"
#include "runtime/Error.h"

#include <gtest/gtest.h>

using namespace mtl::rt;
using nlohmann::json;

namespace {

std::string errorOf(const json &j) {
  try {
    Descriptor::parse(j.dump());
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(Descriptor, ParsesFakeModel) {
  Descriptor d = Descriptor::parse(test::fakeDescriptor("/data").dump());
  EXPECT_EQ(d.model, "fake_mtl");
  EXPECT_EQ(d.batch, 4);
  EXPECT_EQ(d.inputShape, (Shape{2, 2, 1}));
  ASSERT_EQ(d.tasks.size(), 2u);
  EXPECT_EQ(d.tasks[1].numClasses(), 2);
  EXPECT_EQ(d.tasks[1].targetMap, (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(d.numParamElements(), 4 + 1 + 8 + 2);
  ASSERT_NE(d.pipeline("train_step"), nullptr);
  EXPECT_EQ(d.pipeline("train_step")->args.size(), 9u);
  EXPECT_EQ(d.pipeline("train_step")->outputs.size(), 8u);
  EXPECT_EQ(d.train.seed, 7u);
}

TEST(Descriptor, MalformedJson) {
  try {
    Descriptor::parse("{\"version\": 1,");
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos);
  }
}

TEST(Descriptor, MissingAndMistypedFields) {
  json j = test::fakeDescriptor("/data");
  j.erase("batch");
  EXPECT_NE(errorOf(j).find("missing field '$.batch'"), std::string::npos);
  j = test::fakeDescriptor("/data");
  j["tasks"][0]["weight"] = "heavy";
  EXPECT_NE(errorOf(j).find("'$.tasks[0].weight' has the wrong type"),
            std::string::npos)
      << errorOf(j);
}

TEST(Descriptor, ShapeMismatchInPipeline) {
  json j = test::fakeDescriptor("/data");
  j["pipelines"]["train_step"]["args"][5]["shape"] = {5};
  std::string msg = errorOf(j);
  EXPECT_NE(msg.find("param 'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected f32 [4]"), std::string::npos) << msg;
}

TEST(Descriptor, UnknownNames) {
  json j = test::fakeDescriptor("/data");
  j["pipelines"]["eval_step"]["args"][1]["name"] = "nope";
  EXPECT_NE(errorOf(j).find("unknown task 'nope'"), std::string::npos);
  j = test::fakeDescriptor("/data");
  j["params"][0]["init"] = "magic";
  EXPECT_NE(errorOf(j).find("unknown initializer 'magic'"), std::string::npos);
  j = test::fakeDescriptor("/data");
  j["tasks"][1]["target_map"] = {0, 5};
  EXPECT_NE(errorOf(j).find("target_map value 5"), std::string::npos);
}
