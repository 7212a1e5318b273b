//===- Augment.h - Random transformations of training images -------------===//
//
// Applied by the Batcher's loader thread to training batches only (never to
// evaluation, validation or prediction). Order: horizontal flip, rotation
// (bilinear, about the centre), shift (integer pixels, zero fill; the same as
// a random crop of a zero-padded image), gaussian noise. A `box` target
// (x0, y0, x1, y1 normalized by the image size) follows the geometric steps:
// flip mirrors it, shift moves it, rotation takes the axis-aligned box of the
// rotated corners (a box that still contains the item, not always tight);
// each step clips it to [0, 1]. An `item` target (an image of the object
// itself, position-free, as fashion-detect's reconstruction target) follows
// the flip and the rotation, not the shift. Every draw comes from `seed`, so
// a batch is the same on every run and after a resume.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_AUGMENT_H
#define MTL_RUNTIME_AUGMENT_H

#include "runtime/Descriptor.h"

namespace mtl::rt {

/// Targets that move with the image; null / empty where a sample has none.
struct AugmentTargets {
  float *box = nullptr;  // 4 floats
  float *item = nullptr; // an image of `itemShape` ([H, W, C] or [H, W])
  Shape itemShape;
};

/// Transforms one image of `shape` ([H, W, C] or [H, W]) in place, and its
/// `targets`. Inputs of other ranks get noise only.
void augmentImage(const AugmentSpec &spec, float *image, const Shape &shape,
                  const AugmentTargets &targets, uint64_t seed);

// The steps, exposed for tests. Images are h x w x c, row-major.
void flipImage(float *image, int64_t h, int64_t w, int64_t c);
/// out(y, x) = in(y - dy, x - dx); zero where that is outside.
void shiftImage(float *image, int64_t h, int64_t w, int64_t c, int64_t dx,
                int64_t dy);
/// Rotates the content by `degrees` (counter-clockwise on screen, y down).
void rotateImage(float *image, int64_t h, int64_t w, int64_t c, double degrees);
void flipBox(float *box);
void shiftBox(float *box, int64_t h, int64_t w, int64_t dx, int64_t dy);
void rotateBox(float *box, int64_t h, int64_t w, double degrees);

} // namespace mtl::rt

#endif // MTL_RUNTIME_AUGMENT_H
