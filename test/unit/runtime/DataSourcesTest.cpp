//===- DataSourcesTest.cpp - NPY, CSV, generated datasets, validation ----===//
//
// Every file is tiny and written by the test; the generated datasets are
// built on a handful of synthetic 28x28 "items" with known boxes.

#include "TestUtil.h"
#include "runtime/Batcher.h"
#include "runtime/Csv.h"
#include "runtime/Dataset.h"
#include "runtime/Error.h"
#include "runtime/Generated.h"
#include "runtime/Idx.h"
#include "runtime/Npy.h"
#include "runtime/Pipeline.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

using namespace mtl::rt;
using mtl::rt::test::TempDir;
using nlohmann::json;

namespace {

json task(const std::string &name, const std::string &target,
          const std::string &loss, json predShape) {
  return {{"name", name},
          {"loss", loss},
          {"target", target},
          {"prediction_shape", predShape}};
}

json descriptor(const std::string &source, const std::string &dir,
                json inputShape, json tasks) {
  return {{"version", 1},
          {"model", "data_test"},
          {"batch", 4},
          {"input", {{"name", "image"}, {"shape", inputShape}}},
          {"data",
           {{"source", source},
            {"dir", dir},
            {"train_images", "train-images-idx3-ubyte.gz"},
            {"train_labels", "train-labels-idx1-ubyte.gz"},
            {"test_images", "t10k-images-idx3-ubyte.gz"},
            {"test_labels", "t10k-labels-idx1-ubyte.gz"},
            {"train_file", "train.csv"},
            {"test_file", "test.csv"}}},
          {"tasks", tasks},
          {"params", json::array()},
          {"train", json::object()},
          {"pipelines", json::object()}};
}

// n 28x28 items: item i is a filled rectangle rows [i % 5 + 2, 20),
// cols [3, 10 + i % 7), label i % 10; written as the Fashion-MNIST files.
void writeItems(const std::string &dir, int n) {
  std::vector<uint8_t> px(n * 28 * 28, 0), labels(n);
  for (int i = 0; i < n; ++i) {
    for (int r = i % 5 + 2; r < 20; ++r)
      for (int c = 3; c < 10 + i % 7; ++c)
        px[i * 784 + r * 28 + c] = static_cast<uint8_t>(100 + i);
    labels[i] = static_cast<uint8_t>(i % 10);
  }
  for (const char *split : {"train", "t10k"}) {
    writeIdx(dir + "/" + split + "-images-idx3-ubyte.gz", {n, 28, 28}, px,
             true);
    writeIdx(dir + "/" + split + "-labels-idx1-ubyte.gz", {n}, labels, true);
  }
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

json detectTasks() {
  return json::array({task("label", "label", "softmax_cross_entropy", {10}),
                      task("group", "group", "softmax_cross_entropy", {4}),
                      task("box", "box", "mse", {4}),
                      task("item", "item", "mse", {784})});
}

} // namespace

// --- NPY -------------------------------------------------------------------

TEST(Npy, RoundTripsEveryDtype) {
  TempDir tmp;
  std::vector<float> f = {0.5f, -1.0f, 2.0f, 3.5f, 4.0f, 5.0f};
  writeNpy(tmp.path("f.npy"), NpyArray::Type::F32, {2, 3}, f.data());
  NpyArray a = readNpy(tmp.path("f.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_STREQ(a.typeName(), "float32");
  EXPECT_EQ(a.at(1), -1.0);
  std::vector<uint8_t> u = {1, 2, 255};
  writeNpy(tmp.path("u.npy"), NpyArray::Type::U8, {3}, u.data());
  EXPECT_EQ(readNpy(tmp.path("u.npy")).at(2), 255.0);
  std::vector<int32_t> i = {7, -1};
  writeNpy(tmp.path("i.npy"), NpyArray::Type::I32, {2}, i.data());
  EXPECT_EQ(readNpy(tmp.path("i.npy")).at(1), -1.0);
  std::vector<int64_t> l = {3, 4, 5};
  writeNpy(tmp.path("l.npy"), NpyArray::Type::I64, {3}, l.data());
  NpyArray b = readNpy(tmp.path("l.npy"), 2); // limit
  EXPECT_EQ(b.shape, std::vector<int64_t>{2});
  EXPECT_EQ(b.at(1), 4.0);
}

TEST(Npy, CorruptAndTruncatedFiles) {
  TempDir tmp;
  std::vector<float> f(12, 1.0f);
  writeNpy(tmp.path("f.npy"), NpyArray::Type::F32, {3, 4}, f.data());
  std::string bytes = test::readFile(tmp.path("f.npy"));
  test::writeFile(tmp.path("cut.npy"), bytes.substr(0, bytes.size() - 5));
  std::string msg = errorOf([&] { readNpy(tmp.path("cut.npy")); });
  EXPECT_NE(msg.find("cut.npy: truncated .npy data: expected 48 bytes from "
                     "offset 128, the file ends at offset 171"),
            std::string::npos)
      << msg;
  test::writeFile(tmp.path("bad.npy"), "PK\x03\x04garbage");
  msg = errorOf([&] { readNpy(tmp.path("bad.npy")); });
  EXPECT_NE(msg.find("bad.npy: not a .npy file (bad magic at offset 0)"),
            std::string::npos)
      << msg;
  std::string f64 = bytes;
  f64.replace(f64.find("<f4"), 3, "<f8");
  test::writeFile(tmp.path("f64.npy"), f64);
  msg = errorOf([&] { readNpy(tmp.path("f64.npy")); });
  EXPECT_NE(msg.find("dtype '<f8' is not supported"), std::string::npos) << msg;
  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  test::writeFile(tmp.path("fo.npy"), fortran);
  msg = errorOf([&] { readNpy(tmp.path("fo.npy")); });
  EXPECT_NE(msg.find("Fortran order"), std::string::npos) << msg;
  test::writeFile(tmp.path("short.npy"), bytes.substr(0, 40));
  msg = errorOf([&] { readNpy(tmp.path("short.npy")); });
  EXPECT_NE(msg.find("short.npy: truncated .npy header"), std::string::npos)
      << msg;
}

TEST(Npy, LoadsASplitWithMissingLabels) {
  TempDir tmp;
  // 5 samples of 2x3 uint8 images; labels int64 with a -1 (missing).
  std::vector<uint8_t> px(30);
  for (int i = 0; i < 30; ++i)
    px[i] = static_cast<uint8_t>(i * 8);
  std::vector<int64_t> labels = {0, 2, -1, 1, 2};
  json j = descriptor("npy", tmp.dir, {2, 3, 1},
                      {task("c", "label", "softmax_cross_entropy", {3})});
  j["data"]["train_images"] = "x.npy";
  j["data"]["train_labels"] = "y.npy";
  writeNpy(tmp.path("x.npy"), NpyArray::Type::U8, {5, 2, 3}, px.data());
  writeNpy(tmp.path("y.npy"), NpyArray::Type::I64, {5}, labels.data());
  Descriptor d = Descriptor::parse(j.dump());
  Split s = loadSplit(d, "", true, 0);
  EXPECT_EQ(s.size, 5);
  EXPECT_EQ(s.imageShape, (Shape{2, 3, 1}));
  EXPECT_FLOAT_EQ(s.images[7], 56 / 255.0f);
  EXPECT_EQ(s.field("label")->ints, (std::vector<int32_t>{0, 2, -1, 1, 2}));

  // A float label that is not a class id is an error naming the element.
  std::vector<float> bad = {0, 1, 1.5f, 2, 0};
  writeNpy(tmp.path("y.npy"), NpyArray::Type::F32, {5}, bad.data());
  std::string msg = errorOf([&] { loadSplit(d, "", true, 0); });
  EXPECT_NE(msg.find("y.npy: label 1.5 (element 2, byte offset 8 of the data) "
                     "is not a class id"),
            std::string::npos)
      << msg;
  // Image shape mismatch.
  writeNpy(tmp.path("x.npy"), NpyArray::Type::U8, {5, 3, 2}, px.data());
  msg = errorOf([&] { loadSplit(d, "", true, 0); });
  EXPECT_NE(msg.find("x.npy: images are [3, 2], but the model's input 'image' "
                     "expects [2, 3, 1]"),
            std::string::npos)
      << msg;
}

// --- CSV -------------------------------------------------------------------

TEST(Csv, HeaderLabelByNameMissingValues) {
  TempDir tmp;
  test::writeFile(tmp.path("a.csv"), "f0, f1, label, f2\n"
                                     "1, 2, 0, 3\n"
                                     "\n"
                                     "4, 5, , 6\n"
                                     "7, 8, NaN, 9\n"
                                     "1.5, -2, 3, 0\n");
  CsvTable t = readCsv(tmp.path("a.csv"), "label");
  EXPECT_EQ(t.rows, 4);
  EXPECT_EQ(t.features, 3);
  EXPECT_EQ(t.labels, (std::vector<int32_t>{0, -1, -1, 3}));
  EXPECT_EQ(t.values,
            (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 1.5f, -2, 0}));
  CsvTable first = readCsv(tmp.path("a.csv"), "2", 2); // by index, limit
  EXPECT_EQ(first.rows, 2);
}

TEST(Csv, ErrorsNameLineAndColumn) {
  TempDir tmp;
  test::writeFile(tmp.path("b.csv"), "0,1,2\n1,abc,3\n");
  std::string msg = errorOf([&] { readCsv(tmp.path("b.csv"), "0"); });
  EXPECT_NE(msg.find("b.csv:2:3: 'abc' is not a number"), std::string::npos)
      << msg;
  test::writeFile(tmp.path("c.csv"), "0,1,2\n1,2\n");
  msg = errorOf([&] { readCsv(tmp.path("c.csv"), "0"); });
  EXPECT_NE(msg.find("c.csv:2:3: 2 columns, expected 3"), std::string::npos)
      << msg;
  test::writeFile(tmp.path("d.csv"), "0,1,2\n1.5,2,3\n");
  msg = errorOf([&] { readCsv(tmp.path("d.csv"), "0"); });
  EXPECT_NE(msg.find("d.csv:2:1: label '1.5' is not a class id"),
            std::string::npos)
      << msg;
  test::writeFile(tmp.path("e.csv"), "a,b\n1,2\n");
  msg = errorOf([&] { readCsv(tmp.path("e.csv"), "label"); });
  EXPECT_NE(msg.find("e.csv:1:1: no column named 'label' in the header "
                     "(columns: a, b)"),
            std::string::npos)
      << msg;
  msg = errorOf([&] { readCsv(tmp.path("nope.csv"), "0"); });
  EXPECT_NE(msg.find("nope.csv: cannot open"), std::string::npos) << msg;
}

TEST(Csv, LoadsASplit) {
  TempDir tmp;
  test::writeFile(tmp.path("train.csv"), "y,a,b\n1,0.5,1\n0,2,3\n");
  json j = descriptor("csv", tmp.dir, {2},
                      {task("c", "label", "softmax_cross_entropy", {2})});
  j["data"]["label_column"] = "y";
  Descriptor d = Descriptor::parse(j.dump());
  Split s = loadSplit(d, "", true, 0);
  EXPECT_EQ(s.size, 2);
  EXPECT_EQ(s.images, (std::vector<float>{0.5f, 1, 2, 3}));
  j["input"]["shape"] = {3};
  std::string msg =
      errorOf([&] { loadSplit(Descriptor::parse(j.dump()), "", true, 0); });
  EXPECT_NE(msg.find("train.csv: 2 feature columns per sample, but the "
                     "model's input 'image' [3] has 3 values"),
            std::string::npos)
      << msg;
}

// --- Generated datasets ----------------------------------------------------

TEST(Generated, TightBox) {
  std::vector<uint8_t> px(6 * 5, 0);
  px[1 * 5 + 2] = 9;
  px[4 * 5 + 3] = 1;
  EXPECT_EQ(tightBox(px.data(), 6, 5), (std::vector<int64_t>{2, 1, 3, 4}));
  EXPECT_EQ(tightBox(std::vector<uint8_t>(4, 0).data(), 2, 2),
            (std::vector<int64_t>{0, 0, 1, 1}));
}

TEST(Generated, FashionDetectBoxIsTheTightBoxOfTheItem) {
  TempDir tmp;
  writeItems(tmp.dir, 20);
  Descriptor d = Descriptor::parse(
      descriptor("fashion-detect", tmp.dir, {40, 40, 1}, detectTasks()).dump());
  Split s = loadSplit(d, "", true, 0);
  ASSERT_EQ(s.size, 20);
  EXPECT_EQ(s.imageShape, (Shape{40, 40, 1}));
  const Field *box = s.field("box"), *item = s.field("item");
  const Field *label = s.field("label"), *group = s.field("group");
  ASSERT_TRUE(box && item && label && group);
  std::set<std::pair<int, int>> positions;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(label->ints[i], i % 10);
    EXPECT_EQ(group->ints[i], fashionGroup(i % 10));
    EXPECT_GE(group->ints[i], 0);
    EXPECT_LT(group->ints[i], 4);
    // The canvas's non-zero pixels span exactly the box.
    const float *img = s.image(i);
    int r0 = 40, r1 = -1, c0 = 40, c1 = -1;
    for (int r = 0; r < 40; ++r)
      for (int c = 0; c < 40; ++c)
        if (img[r * 40 + c] > 0)
          r0 = std::min(r0, r), r1 = std::max(r1, r), c0 = std::min(c0, c),
          c1 = std::max(c1, c);
    const float *b = &box->floats[i * 4];
    EXPECT_FLOAT_EQ(b[0], c0 / 40.0f) << i;
    EXPECT_FLOAT_EQ(b[1], r0 / 40.0f) << i;
    EXPECT_FLOAT_EQ(b[2], (c1 + 1) / 40.0f) << i;
    EXPECT_FLOAT_EQ(b[3], (r1 + 1) / 40.0f) << i;
    // Known item geometry: rows [i%5+2, 20), cols [3, 10+i%7).
    EXPECT_EQ(r1 - r0 + 1, 20 - (i % 5 + 2));
    EXPECT_EQ(c1 - c0 + 1, 7 + i % 7);
    positions.insert({r0 - (i % 5 + 2), c0 - 3});
    // The item field is the 28x28 item itself.
    EXPECT_FLOAT_EQ(item->floats[i * 784 + 19 * 28 + 3], (100 + i) / 255.0f);
    EXPECT_EQ(item->floats[i * 784], 0.0f);
  }
  EXPECT_GT(positions.size(), 5u); // random positions
  for (auto [y, x] : positions) {
    EXPECT_GE(y, 0);
    EXPECT_LE(y, 12);
    EXPECT_GE(x, 0);
    EXPECT_LE(x, 12);
  }
}

TEST(Generated, DeterministicForASeedDifferentAcrossSeedsAndSplits) {
  TempDir tmp;
  writeItems(tmp.dir, 12);
  json j = descriptor("fashion-detect", tmp.dir, {40, 40, 1}, detectTasks());
  Descriptor d = Descriptor::parse(j.dump());
  Split a = loadSplit(d, "", true, 0), b = loadSplit(d, "", true, 0);
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.field("box")->floats, b.field("box")->floats);
  Split test = loadSplit(d, "", false, 0);
  EXPECT_NE(a.images, test.images); // same items, other positions
  j["data"]["seed"] = 2;
  Split c = loadSplit(Descriptor::parse(j.dump()), "", true, 0);
  EXPECT_NE(a.images, c.images);
  // limit keeps the first base images.
  EXPECT_EQ(loadSplit(d, "", true, 5).size, 5);
}

TEST(Generated, MultiFashion) {
  TempDir tmp;
  writeItems(tmp.dir, 10);
  json j = descriptor("multi-fashion", tmp.dir, {36, 36, 1},
                      {task("left", "left", "softmax_cross_entropy", {10}),
                       task("right", "right", "softmax_cross_entropy", {10})});
  Split s = loadSplit(Descriptor::parse(j.dump()), "", true, 0);
  ASSERT_EQ(s.size, 10);
  for (int i = 0; i < 10; ++i) {
    int left = s.field("left")->ints[i], right = s.field("right")->ints[i];
    EXPECT_EQ(left, i % 10);
    EXPECT_GE(right, 0);
    EXPECT_LT(right, 10);
    EXPECT_NE(right, left); // another image (labels are distinct here)
    const float *img = s.image(i);
    // Up-left item (offset <= 2): its first column is 3..5; the down-right
    // item (offset 6..8) covers the bottom-right area.
    float topLeft = 0, bottomRight = 0;
    for (int r = 0; r < 36; ++r)
      for (int c = 0; c < 36; ++c) {
        if (r < 12 && c < 8)
          topLeft = std::max(topLeft, img[r * 36 + c]);
        if (r > 24 && c > 14)
          bottomRight = std::max(bottomRight, img[r * 36 + c]);
      }
    EXPECT_GT(topLeft, 0) << i;
    EXPECT_GT(bottomRight, 0) << i;
  }
  // Wrong input shape for the source is caught by the descriptor.
  j["input"]["shape"] = {28, 28, 1};
  std::string msg = errorOf([&] { Descriptor::parse(j.dump()); });
  EXPECT_NE(msg.find("data source 'multi-fashion' produces inputs of shape "
                     "[36, 36, 1], but $.input.shape is [28, 28, 1]"),
            std::string::npos)
      << msg;
}

TEST(Generated, Sequential) {
  TempDir tmp;
  writeItems(tmp.dir, 6);
  json j = descriptor("sequential", tmp.dir, {28, 28},
                      {task("label", "label", "softmax_cross_entropy", {10}),
                       task("group", "group", "softmax_cross_entropy", {4})});
  Split s = loadSplit(Descriptor::parse(j.dump()), "", true, 0);
  EXPECT_EQ(s.imageShape, (Shape{28, 28}));
  EXPECT_FLOAT_EQ(s.image(1)[3 * 28 + 3], 101 / 255.0f); // row 3 = step 3
  EXPECT_EQ(s.field("group")->ints[1], 1);               // label 1: bottoms
}

TEST(Generated, TargetMustBeAFieldOfTheSource) {
  json j =
      descriptor("idx", "/tmp", {28, 28, 1}, {task("box", "box", "mse", {4})});
  std::string msg = errorOf([&] { Descriptor::parse(j.dump()); });
  EXPECT_NE(msg.find("$.tasks[0].target 'box' is not a field of data source "
                     "'idx' (fields: label, image)"),
            std::string::npos)
      << msg;
  j = descriptor("fashion-detect", "/tmp", {40, 40, 1},
                 {task("box", "box", "softmax_cross_entropy", {4})});
  msg = errorOf([&] { Descriptor::parse(j.dump()); });
  EXPECT_NE(msg.find("softmax_cross_entropy needs a class-id target, 'box' is "
                     "a float field"),
            std::string::npos)
      << msg;
}

// --- Validation split and partial labels ------------------------------------

TEST(Training, ValidationSplitIsFixedAndDisjoint) {
  TempDir tmp;
  writeItems(tmp.dir, 40);
  json j = descriptor("idx", tmp.dir, {28, 28, 1},
                      {task("label", "label", "softmax_cross_entropy", {10})});
  j["data"]["validation"] = 0.25;
  Descriptor d = Descriptor::parse(j.dump());
  TrainingData a = loadTraining(d, "", 0), b = loadTraining(d, "", 0);
  EXPECT_EQ(a.train.size, 30);
  EXPECT_EQ(a.validation.size, 10);
  EXPECT_EQ(a.validation.images, b.validation.images);
  // Every sample is in exactly one part: item i has 100 + i at (19, 3).
  std::set<int> seen;
  for (const Split *s : {&a.train, &a.validation})
    for (int64_t k = 0; k < s->size; ++k)
      seen.insert(std::lround(s->image(k)[19 * 28 + 3] * 255) - 100);
  EXPECT_EQ(seen.size(), 40u);
  j["data"]["validation"] = 1.5;
  EXPECT_NE(errorOf([&] {
              Descriptor::parse(j.dump());
            }).find("$.data.validation 1.5 must be in [0, 1)"),
            std::string::npos);
}

TEST(Training, LabelFractionMasksOnlyThatTask) {
  TempDir tmp;
  writeItems(tmp.dir, 200);
  json tasks = detectTasks();
  tasks[1]["label_fraction"] = 0.3;
  json j = descriptor("fashion-detect", tmp.dir, {40, 40, 1}, tasks);
  j["data"]["validation"] = 0.1;
  Descriptor d = Descriptor::parse(j.dump());
  TrainingData data = loadTraining(d, "", 0);
  ASSERT_EQ(data.train.present.size(), 4u);
  EXPECT_TRUE(data.train.present[0].empty()); // label: every sample
  const std::vector<uint8_t> &group = data.train.present[1];
  ASSERT_EQ(group.size(), 180u);
  int kept = 0;
  for (uint8_t p : group)
    kept += p;
  EXPECT_GT(kept, 180 * 0.3 - 20);
  EXPECT_LT(kept, 180 * 0.3 + 20);
  EXPECT_TRUE(data.validation.present.empty()); // validation keeps labels
  EXPECT_EQ(loadTraining(d, "", 0).train.present[1], group); // seeded

  // The batch carries the marks and the pipeline masks only task 'group'.
  Batcher batcher(data.train, 4, Batcher::Mode::Eval, 0);
  batcher.startEpoch(0);
  const Batch *b = batcher.next();
  ASSERT_TRUE(b);
  for (int r = 0; r < 4; ++r)
    EXPECT_EQ(b->present[1][r], group[r]);
}

TEST(Training, MissingLabelsAndNaNValuesAreMasked) {
  // Through Pipeline::setBatch: class -1 and a NaN box mask their row only.
  json tasks =
      json::array({task("label", "label", "softmax_cross_entropy", {10}),
                   task("box", "box", "mse", {4})});
  json j = descriptor("fashion-detect", "/tmp", {40, 40, 1}, tasks);
  json T = [](const char *k, const char *n, json s, const char *dt) {
    return json{{"kind", k}, {"name", n}, {"shape", s}, {"dtype", dt}};
  }("input", "image", {4, 40, 40, 1}, "f32");
  json args = {
      T,
      {{"kind", "target"}, {"name", "label"}, {"shape", {4}}, {"dtype", "i32"}},
      {{"kind", "mask"}, {"name", "label"}, {"shape", {4}}, {"dtype", "f32"}},
      {{"kind", "target"},
       {"name", "box"},
       {"shape", {4, 4}},
       {"dtype", "f32"}},
      {{"kind", "mask"}, {"name", "box"}, {"shape", {4}}, {"dtype", "f32"}}};
  j["pipelines"] = {
      {"eval_step", {{"args", args}, {"outputs", json::array()}}}};
  std::string s = j.dump();
  static const PipelineEntry entries[] = {
      {"eval_step", [](void **) { return 0; }, nullptr}};
  Model model(CompiledModel{s.c_str(), entries, 1});
  Pipeline p(model, "eval_step");
  Batch b;
  b.rows = 4;
  b.indices = {0, 1, 2, 3};
  b.images.assign(4 * 1600, 0.0f);
  b.mask = {1, 1, 1, 1};
  Field label;
  label.name = "label";
  label.ints = {3, -1, 5, 7};
  Field box;
  box.name = "box";
  box.dtype = DType::F32;
  box.shape = {4};
  box.floats = {0.1f, 0.1f, 0.5f, 0.5f, 0, 0, 1, 1, NAN, 0, 1, 1, 0, 0, 1, 1};
  b.fields = {label, box};
  b.present = {{}, {1, 1, 1, 0}}; // box withheld for row 3
  p.setBatch(b);
  TaskBatch l = p.taskBatch(0), x = p.taskBatch(1);
  EXPECT_EQ(std::vector<float>(l.mask, l.mask + 4),
            (std::vector<float>{1, 0, 1, 1}));
  EXPECT_EQ(std::vector<float>(x.mask, x.mask + 4),
            (std::vector<float>{1, 1, 0, 0}));
  EXPECT_EQ(x.values[8], 0.0f); // the NaN row is zeroed
  EXPECT_EQ(x.values[2], 0.5f);
}
