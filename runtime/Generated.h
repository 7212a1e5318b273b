//===- Generated.h - Datasets built on Fashion-MNIST ---------------------===//
//
// Generated once at load time from the Fashion-MNIST IDX images, the same
// for a given (seed, split) on every machine (the generator is splitmix64,
// not a std:: distribution):
//
//   fashion-detect  one 28x28 item at a random position of a 40x40 canvas;
//                   fields label (10), group (4), box (x0, y0, x1, y1 of the
//                   item's tight box of non-zero pixels, pixel edges / 40),
//                   item (the 28x28x1 item itself, in [0, 1]).
//   multi-fashion   two items overlaid (max) on a 36x36 canvas, one shifted
//                   up-left (offset 0..2), one down-right (offset 6..8), as
//                   in Sener & Koltun 2018's MultiMNIST; fields left, right.
//   sequential      each 28x28 image as 28 time steps of 28 features
//                   (input [28, 28]); fields label, group.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_GENERATED_H
#define MTL_RUNTIME_GENERATED_H

#include "runtime/Dataset.h"

namespace mtl::rt {

/// Fashion-MNIST (or any 28x28 u8) images and their labels.
struct BaseImages {
  int64_t size = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels; // size x height x width
  std::vector<int32_t> labels; // size
};

/// `stream` separates the train (0) and test (1) generations of one seed.
Split makeFashionDetect(const BaseImages &base, uint64_t seed, uint64_t stream);
Split makeMultiFashion(const BaseImages &base, uint64_t seed, uint64_t stream);
Split makeSequential(const BaseImages &base);

/// The tight box [c0, r0, c1, r1] (inclusive pixel indices) of the non-zero
/// pixels of an h x w u8 image; the whole image when it has none.
std::vector<int64_t> tightBox(const uint8_t *pixels, int64_t h, int64_t w);

/// splitmix64: the generator of every seeded choice in the data pipeline.
uint64_t splitmix64(uint64_t x);

} // namespace mtl::rt

#endif // MTL_RUNTIME_GENERATED_H
