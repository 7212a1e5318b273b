//===- Staging.h - Recomputed producers staged per consumer ---------------===//
//
// A segment recomputes some producers where they are read instead of
// storing them (Segments.cpp: the first layer's conv inside its batch
// norm's passes, its batch-norm input gradient inside its grad-filter).
// Halide inlines such a Func into every expression that
// calls it, so a reader that evaluates it several times per element --
// the max-pool gradient compares the four values of a pixel's window, a
// per-channel sum of a Tuple evaluates each element once per Tuple member
// -- multiplies the recomputation (fashion_detect's layer-1 batch-norm
// backward did 8 of the first conv's 9-tap sums per pixel).
//
// Staging gives each registered reader (a root stage with a loop over the
// batch images) its own copy of the producer, computed once per image at
// that loop into a buffer the size of one image's activation (L2-sized),
// while the other readers keep theirs: every inlined Func between the
// reader and the producer is copied for the reader (a copy of its
// definition calling the reader's copies), and a producer read through
// another producer has both staged at that loop. (Halide's Func::in and
// clone_in keep their wrapper on the wrapped Func, so a second reader's
// clone of the same Func fails: hence copies.)
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_STAGING_H
#define MTL_CODEGEN_STAGING_H

#include <Halide.h>

#include <vector>

namespace mtl::codegen {

struct Staging {
  /// An inlined producer worth computing once per reader and image.
  struct Producer {
    Halide::Func func;
    int channels; // extent of dim 0, which the staged copy vectorizes
  };
  /// A reader: its stage `func` runs a loop over images at `at`.
  struct Reader {
    Halide::Func func;
    Halide::LoopLevel at;
  };
  std::vector<Producer> producers;
  std::vector<Reader> readers;
};

/// Gives every reader that reaches a producer through inlined Funcs its own
/// staged copy (CPU schedules only).
void stageRecomputedProducers(const Staging &staging);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_STAGING_H
