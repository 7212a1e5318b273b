//===- Augment.cpp - Random transformations of training images -----------===//

#include "runtime/Augment.h"
#include "runtime/Generated.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mtl::rt {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Draws {
  uint64_t state;
  explicit Draws(uint64_t seed) : state(splitmix64(seed)) {}
  double uniform() { // [0, 1)
    state = splitmix64(state);
    return (state >> 11) * (1.0 / 9007199254740992.0);
  }
  double gaussian() { // Box-Muller
    double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
  }
};

float clip01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

void clipBox(float *box) {
  for (int i = 0; i < 4; ++i)
    box[i] = clip01(box[i]);
}

} // namespace

void flipImage(float *image, int64_t h, int64_t w, int64_t c) {
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w / 2; ++x)
      for (int64_t k = 0; k < c; ++k)
        std::swap(image[(y * w + x) * c + k],
                  image[(y * w + (w - 1 - x)) * c + k]);
}

void shiftImage(float *image, int64_t h, int64_t w, int64_t c, int64_t dx,
                int64_t dy) {
  if (dx == 0 && dy == 0)
    return;
  std::vector<float> src(image, image + h * w * c);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      int64_t sy = y - dy, sx = x - dx;
      bool in = sy >= 0 && sy < h && sx >= 0 && sx < w;
      for (int64_t k = 0; k < c; ++k)
        image[(y * w + x) * c + k] = in ? src[(sy * w + sx) * c + k] : 0.0f;
    }
}

void rotateImage(float *image, int64_t h, int64_t w, int64_t c,
                 double degrees) {
  if (degrees == 0.0)
    return;
  std::vector<float> src(image, image + h * w * c);
  // Screen coordinates (y down): a positive angle turns the content
  // counter-clockwise as seen. out(p) = in(R(-a)(p - centre) + centre).
  double a = degrees * kPi / 180.0, cs = std::cos(a), sn = std::sin(a);
  double cx = w / 2.0, cy = h / 2.0;
  auto at = [&](int64_t y, int64_t x, int64_t k) {
    return y >= 0 && y < h && x >= 0 && x < w ? src[(y * w + x) * c + k] : 0.0f;
  };
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double px = x + 0.5 - cx, py = y + 0.5 - cy;
      // The inverse of the forward map p' = R(a) p with R(a) = [[cs, sn],
      // [-sn, cs]] in (x, y-down) coordinates.
      double sx = cs * px - sn * py + cx - 0.5;
      double sy = sn * px + cs * py + cy - 0.5;
      int64_t x0 = static_cast<int64_t>(std::floor(sx));
      int64_t y0 = static_cast<int64_t>(std::floor(sy));
      double fx = sx - x0, fy = sy - y0;
      for (int64_t k = 0; k < c; ++k)
        image[(y * w + x) * c + k] = static_cast<float>(
            (1 - fy) * ((1 - fx) * at(y0, x0, k) + fx * at(y0, x0 + 1, k)) +
            fy * ((1 - fx) * at(y0 + 1, x0, k) + fx * at(y0 + 1, x0 + 1, k)));
    }
}

void flipBox(float *box) {
  float x0 = box[0], x1 = box[2];
  box[0] = 1.0f - x1;
  box[2] = 1.0f - x0;
}

void shiftBox(float *box, int64_t h, int64_t w, int64_t dx, int64_t dy) {
  box[0] += float(dx) / w;
  box[2] += float(dx) / w;
  box[1] += float(dy) / h;
  box[3] += float(dy) / h;
  clipBox(box);
}

void rotateBox(float *box, int64_t h, int64_t w, double degrees) {
  if (degrees == 0.0)
    return;
  double a = degrees * kPi / 180.0, cs = std::cos(a), sn = std::sin(a);
  double cx = w / 2.0, cy = h / 2.0;
  double lo[2] = {1e30, 1e30}, hi[2] = {-1e30, -1e30};
  for (int i = 0; i < 4; ++i) {
    double px = (i & 1 ? box[2] : box[0]) * w - cx;
    double py = (i & 2 ? box[3] : box[1]) * h - cy;
    // The forward map of rotateImage.
    double qx = cs * px + sn * py + cx, qy = -sn * px + cs * py + cy;
    lo[0] = std::min(lo[0], qx), hi[0] = std::max(hi[0], qx);
    lo[1] = std::min(lo[1], qy), hi[1] = std::max(hi[1], qy);
  }
  box[0] = static_cast<float>(lo[0] / w);
  box[1] = static_cast<float>(lo[1] / h);
  box[2] = static_cast<float>(hi[0] / w);
  box[3] = static_cast<float>(hi[1] / h);
  clipBox(box);
}

void augmentImage(const AugmentSpec &spec, float *image, const Shape &shape,
                  const AugmentTargets &targets, uint64_t seed) {
  Draws draws(seed);
  bool spatial = shape.size() == 2 || shape.size() == 3;
  int64_t h = spatial ? shape[0] : 0, w = spatial ? shape[1] : 0;
  int64_t c = shape.size() == 3 ? shape[2] : 1;
  float *box = targets.box, *item = nullptr;
  const Shape &is = targets.itemShape;
  if (targets.item && (is.size() == 2 || is.size() == 3))
    item = targets.item;
  int64_t ih = item ? is[0] : 0, iw = item ? is[1] : 0;
  int64_t ic = is.size() == 3 ? is[2] : 1;
  if (spatial) {
    if (spec.flip && draws.uniform() < 0.5) {
      flipImage(image, h, w, c);
      if (box)
        flipBox(box);
      if (item)
        flipImage(item, ih, iw, ic);
    }
    if (spec.rotate > 0) {
      double deg = (2 * draws.uniform() - 1) * spec.rotate;
      rotateImage(image, h, w, c, deg);
      if (box)
        rotateBox(box, h, w, deg);
      if (item)
        rotateImage(item, ih, iw, ic, deg);
    }
    if (spec.shift > 0) {
      int64_t n = 2 * spec.shift + 1;
      int64_t dx = static_cast<int64_t>(draws.uniform() * n) - spec.shift;
      int64_t dy = static_cast<int64_t>(draws.uniform() * n) - spec.shift;
      shiftImage(image, h, w, c, dx, dy);
      if (box)
        shiftBox(box, h, w, dx, dy);
    }
  }
  if (spec.noise > 0) {
    int64_t n = numElements(shape);
    for (int64_t i = 0; i < n; ++i)
      image[i] += static_cast<float>(spec.noise * draws.gaussian());
  }
}

} // namespace mtl::rt
