//===- FakeModel.cpp - A hand-written model for end-to-end tests ---------===//

#include "FakeModel.h"
#include "runtime/Idx.h"

#include <HalideRuntime.h>

#include <cmath>
#include <limits>
#include <random>

using nlohmann::json;

namespace mtl::rt::test {

bool fakeProduceNaN = false;

namespace {

constexpr int B = 4, P = 4, C = 2;

float *f32(void *arg) {
  return reinterpret_cast<float *>(static_cast<halide_buffer_t *>(arg)->host);
}
int32_t *i32(void *arg) {
  return reinterpret_cast<int32_t *>(static_cast<halide_buffer_t *>(arg)->host);
}

// args: image, value target, value mask, high target, high mask, w, b, wc, bc
// outputs: value loss, value pred, high loss, high pred[, grads w b wc bc]
// (eval_step and train_step); predict: image, w, b, wc, bc -> preds.
void forwardBackward(void **a, bool targets, bool grads) {
  int k = 0;
  const float *x = f32(a[k++]);
  const float *yv = targets ? f32(a[k++]) : nullptr;
  const float *mv = targets ? f32(a[k++]) : nullptr;
  const int32_t *yh = targets ? i32(a[k++]) : nullptr;
  const float *mh = targets ? f32(a[k++]) : nullptr;
  const float *w = f32(a[k++]), *b = f32(a[k++]);
  const float *wc = f32(a[k++]), *bc = f32(a[k++]);
  float *lossV = targets ? f32(a[k++]) : nullptr;
  float *predV = f32(a[k++]);
  float *lossH = targets ? f32(a[k++]) : nullptr;
  float *predH = f32(a[k++]);
  float *gw = grads ? f32(a[k++]) : nullptr,
        *gb = grads ? f32(a[k++]) : nullptr;
  float *gwc = grads ? f32(a[k++]) : nullptr,
        *gbc = grads ? f32(a[k++]) : nullptr;
  const float weightV = 0.5f, weightH = 1.0f;

  float nv = 0, nh = 0, lv = 0, lh = 0;
  if (grads) {
    std::fill(gw, gw + P, 0.0f);
    gb[0] = 0;
    std::fill(gwc, gwc + P * C, 0.0f);
    std::fill(gbc, gbc + C, 0.0f);
  }
  for (int r = 0; r < B; ++r) {
    const float *xr = x + r * P;
    float p = b[0];
    for (int i = 0; i < P; ++i)
      p += w[i] * xr[i];
    predV[r] = p;
    float logits[C];
    for (int c = 0; c < C; ++c) {
      logits[c] = bc[c];
      for (int i = 0; i < P; ++i)
        logits[c] += xr[i] * wc[i * C + c];
      predH[r * C + c] = logits[c];
    }
    if (!targets)
      continue;
    nv += mv[r];
    nh += mh[r];
    lv += mv[r] * (p - yv[r]) * (p - yv[r]);
    float mx = std::max(logits[0], logits[1]);
    float z = std::exp(logits[0] - mx) + std::exp(logits[1] - mx);
    lh += mh[r] * -(logits[yh[r]] - mx - std::log(z));
  }
  if (!targets)
    return;
  nv = std::max(nv, 1.0f);
  nh = std::max(nh, 1.0f);
  *lossV = fakeProduceNaN ? std::numeric_limits<float>::quiet_NaN() : lv / nv;
  *lossH = lh / nh;
  if (!grads)
    return;
  for (int r = 0; r < B; ++r) {
    const float *xr = x + r * P;
    float dv = weightV * mv[r] * 2 * (predV[r] - yv[r]) / nv;
    for (int i = 0; i < P; ++i)
      gw[i] += dv * xr[i];
    gb[0] += dv;
    const float *l = predH + r * C;
    float mx = std::max(l[0], l[1]);
    float z = std::exp(l[0] - mx) + std::exp(l[1] - mx);
    for (int c = 0; c < C; ++c) {
      float d = weightH * mh[r] *
                (std::exp(l[c] - mx) / z - (c == yh[r] ? 1.0f : 0.0f)) / nh;
      gbc[c] += d;
      for (int i = 0; i < P; ++i)
        gwc[i * C + c] += d * xr[i];
    }
  }
}

int trainStep(void **a) {
  forwardBackward(a, true, true);
  return 0;
}
int evalStep(void **a) {
  forwardBackward(a, true, false);
  return 0;
}
int predictStep(void **a) {
  forwardBackward(a, false, false);
  return 0;
}

const halide_filter_metadata_t *trainMetadata() {
  static halide_filter_metadata_t md = {1, 17, nullptr, "host", "train_step"};
  return &md;
}

json tensor(const char *kind, const char *name, json shape,
            const char *dtype = "f32") {
  return {{"kind", kind}, {"name", name}, {"shape", shape}, {"dtype", dtype}};
}

} // namespace

json fakeDescriptor(const std::string &dataDir, const std::string &optimizer) {
  json targets = json::array(
      {tensor("target", "value", {B}), tensor("mask", "value", {B}),
       tensor("target", "high", {B}, "i32"), tensor("mask", "high", {B})});
  json params =
      json::array({tensor("param", "w", {P}), tensor("param", "b", {1}),
                   tensor("param", "wc", {P, C}), tensor("param", "bc", {C})});
  json grads =
      json::array({tensor("grad", "w", {P}), tensor("grad", "b", {1}),
                   tensor("grad", "wc", {P, C}), tensor("grad", "bc", {C})});
  json losses = json::array({tensor("loss", "value", json::array()),
                             tensor("prediction", "value", {B, 1}),
                             tensor("loss", "high", json::array()),
                             tensor("prediction", "high", {B, C})});
  json image = tensor("input", "image", {B, 2, 2, 1});

  json evalArgs = json::array({image});
  for (auto &t : targets)
    evalArgs.push_back(t);
  for (auto &p : params)
    evalArgs.push_back(p);
  json predictArgs = json::array({image});
  for (auto &p : params)
    predictArgs.push_back(p);
  json trainOutputs = losses;
  for (auto &g : grads)
    trainOutputs.push_back(g);

  return {{"version", 1},
          {"model", "fake_mtl"},
          {"spec", "fake.toml"},
          {"batch", B},
          {"input", {{"name", "image"}, {"shape", {2, 2, 1}}}},
          {"data",
           {{"format", "idx"},
            {"dir", dataDir},
            {"train_images", "train-images.gz"},
            {"train_labels", "train-labels.gz"},
            {"test_images", "test-images"},
            {"test_labels", "test-labels"},
            {"limit_train", 0},
            {"limit_test", 0}}},
          {"tasks",
           {{{"name", "value"},
             {"loss", "mse"},
             {"weight", 0.5},
             {"target", "label"},
             {"target_map", json::array()},
             {"metrics", {"mse"}},
             {"prediction_shape", {1}}},
            {{"name", "high"},
             {"loss", "softmax_cross_entropy"},
             {"weight", 1.0},
             {"target", "label"},
             {"target_map", {0, 0, 1, 1}},
             {"metrics", {"accuracy"}},
             {"prediction_shape", {C}}}}},
          {"params",
           {{{"name", "w"},
             {"shape", {P}},
             {"init", "glorot_uniform"},
             {"fan_in", P},
             {"fan_out", 1}},
            {{"name", "b"}, {"shape", {1}}, {"init", "zeros"}},
            {{"name", "wc"},
             {"shape", {P, C}},
             {"init", "he_normal"},
             {"fan_in", P},
             {"fan_out", C}},
            {{"name", "bc"}, {"shape", {C}}, {"init", "zeros"}}}},
          {"train",
           {{"optimizer", optimizer},
            {"lr", optimizer == "adam" ? 0.05 : 0.2},
            {"momentum", 0.9},
            {"beta1", 0.9},
            {"beta2", 0.999},
            {"eps", 1e-8},
            {"weight_decay", 0.0},
            {"epochs", 3},
            {"seed", 7}}},
          {"pipelines",
           {{"train_step", {{"args", evalArgs}, {"outputs", trainOutputs}}},
            {"eval_step", {{"args", evalArgs}, {"outputs", losses}}},
            {"predict",
             {{"args", predictArgs},
              {"outputs", json::array({losses[1], losses[3]})}}}}}};
}

void writeFakeData(const std::string &dir, int trainSize, int testSize) {
  std::mt19937 rng(123);
  std::bernoulli_distribution bit(0.5);
  for (bool train : {true, false}) {
    int n = train ? trainSize : testSize;
    std::vector<uint8_t> images, labels;
    for (int s = 0; s < n; ++s) {
      uint8_t px[4];
      for (uint8_t &p : px)
        p = bit(rng) ? 230 : 20;
      images.insert(images.end(), px, px + 4);
      labels.push_back(static_cast<uint8_t>((px[0] > 127) + 2 * (px[3] > 127)));
    }
    // Train files gzip-compressed, test files raw: both paths get used.
    writeIdx(dir + (train ? "/train-images.gz" : "/test-images"), {n, 2, 2},
             images, train);
    writeIdx(dir + (train ? "/train-labels.gz" : "/test-labels"), {n}, labels,
             train);
  }
}

CompiledModel fakeCompiledModel(const std::string &json) {
  static const PipelineEntry entries[] = {
      {"train_step", trainStep, trainMetadata},
      {"eval_step", evalStep, nullptr},
      {"predict", predictStep, nullptr},
  };
  return CompiledModel{json.c_str(), entries, 3};
}

} // namespace mtl::rt::test
