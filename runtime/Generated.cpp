//===- Generated.cpp - Datasets built on Fashion-MNIST -------------------===//

#include "runtime/Generated.h"
#include "runtime/Error.h"

#include <algorithm>

namespace mtl::rt {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

namespace {

// A tiny deterministic generator for one sample.
struct SampleRng {
  uint64_t state;
  SampleRng(uint64_t seed, uint64_t stream, uint64_t index)
      : state(splitmix64(splitmix64(seed ^ (stream << 56)) + index)) {}
  uint64_t next() { return state = splitmix64(state); }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % n); }
};

Field classField(const char *name, int64_t n) {
  Field f;
  f.name = name;
  f.dtype = DType::I32;
  f.ints.resize(n);
  return f;
}

void requireItems(const BaseImages &base, const char *what) {
  if (base.height != 28 || base.width != 28)
    fail("{} is built on 28x28 images, got {}x{}", what, base.height,
         base.width);
  if (base.size == 0)
    fail("{}: no base images", what);
}

} // namespace

std::vector<int64_t> tightBox(const uint8_t *px, int64_t h, int64_t w) {
  int64_t r0 = h, r1 = -1, c0 = w, c1 = -1;
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c)
      if (px[r * w + c]) {
        r0 = std::min(r0, r), r1 = std::max(r1, r);
        c0 = std::min(c0, c), c1 = std::max(c1, c);
      }
  if (r1 < 0)
    return {0, 0, w - 1, h - 1};
  return {c0, r0, c1, r1};
}

Split makeFashionDetect(const BaseImages &base, uint64_t seed,
                        uint64_t stream) {
  requireItems(base, "fashion-detect");
  constexpr int64_t S = 40, I = 28;
  const int64_t n = base.size;
  Split s;
  s.size = n;
  s.imageShape = {S, S, 1};
  s.images.assign(n * S * S, 0.0f);
  Field label = classField("label", n), group = classField("group", n);
  Field box;
  box.name = "box";
  box.dtype = DType::F32;
  box.shape = {4};
  box.floats.resize(n * 4);
  Field item;
  item.name = "item";
  item.dtype = DType::F32;
  item.shape = {I, I, 1};
  item.floats.resize(n * I * I);
  for (int64_t i = 0; i < n; ++i) {
    SampleRng rng(seed, stream, i);
    int64_t x = rng.below(S - I + 1), y = rng.below(S - I + 1);
    const uint8_t *px = &base.pixels[i * I * I];
    float *canvas = &s.images[i * S * S];
    for (int64_t r = 0; r < I; ++r)
      for (int64_t c = 0; c < I; ++c) {
        float v = px[r * I + c] / 255.0f;
        canvas[(y + r) * S + x + c] = v;
        item.floats[i * I * I + r * I + c] = v;
      }
    std::vector<int64_t> b = tightBox(px, I, I);
    // Pixel edges: the box covers pixels c0..c1, i.e. [c0, c1 + 1).
    box.floats[i * 4 + 0] = float(x + b[0]) / S;
    box.floats[i * 4 + 1] = float(y + b[1]) / S;
    box.floats[i * 4 + 2] = float(x + b[2] + 1) / S;
    box.floats[i * 4 + 3] = float(y + b[3] + 1) / S;
    label.ints[i] = base.labels[i];
    group.ints[i] = fashionGroup(base.labels[i]);
  }
  s.fields = {std::move(label), std::move(group), std::move(box),
              std::move(item)};
  return s;
}

Split makeMultiFashion(const BaseImages &base, uint64_t seed, uint64_t stream) {
  requireItems(base, "multi-fashion");
  if (base.size < 2)
    fail("multi-fashion needs at least 2 base images");
  constexpr int64_t S = 36, I = 28, J = 2;
  const int64_t n = base.size;
  Split s;
  s.size = n;
  s.imageShape = {S, S, 1};
  s.images.assign(n * S * S, 0.0f);
  Field left = classField("left", n), right = classField("right", n);
  for (int64_t i = 0; i < n; ++i) {
    SampleRng rng(seed, stream, i);
    int64_t j = rng.below(n - 1);
    j += j >= i; // another image
    // Up-left item at offset 0..J, down-right item at S-I-J..S-I.
    int64_t ly = rng.below(J + 1), lx = rng.below(J + 1);
    int64_t ry = S - I - rng.below(J + 1), rx = S - I - rng.below(J + 1);
    float *canvas = &s.images[i * S * S];
    auto place = [&](int64_t k, int64_t oy, int64_t ox) {
      const uint8_t *px = &base.pixels[k * I * I];
      for (int64_t r = 0; r < I; ++r)
        for (int64_t c = 0; c < I; ++c) {
          float &dst = canvas[(oy + r) * S + ox + c];
          dst = std::max(dst, px[r * I + c] / 255.0f);
        }
    };
    place(i, ly, lx);
    place(j, ry, rx);
    left.ints[i] = base.labels[i];
    right.ints[i] = base.labels[j];
  }
  s.fields = {std::move(left), std::move(right)};
  return s;
}

Split makeSequential(const BaseImages &base) {
  requireItems(base, "sequential");
  const int64_t n = base.size;
  Split s;
  s.size = n;
  s.imageShape = {28, 28};
  s.images.resize(base.pixels.size());
  for (size_t i = 0; i < base.pixels.size(); ++i)
    s.images[i] = base.pixels[i] / 255.0f;
  Field label = classField("label", n), group = classField("group", n);
  for (int64_t i = 0; i < n; ++i) {
    label.ints[i] = base.labels[i];
    group.ints[i] = fashionGroup(base.labels[i]);
  }
  s.fields = {std::move(label), std::move(group)};
  return s;
}

} // namespace mtl::rt
