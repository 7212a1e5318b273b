//===- ParallelFor.cpp - Run a loop on Halide's thread pool
//----------------===//

#include "runtime/ParallelFor.h"

#include <HalideRuntime.h>

#include <cstdint>

// The Halide runtime linked into model binaries (weak: unit tests link
// libmtlrt without one).
extern "C" __attribute__((weak)) int halide_do_par_for(void *user_context,
                                                       halide_task_t task,
                                                       int min, int size,
                                                       uint8_t *closure);

namespace mtl::rt {

namespace {

struct Closure {
  size_t n, grain;
  const std::function<void(size_t, size_t)> *body;
};

int runChunk(void *, int chunk, uint8_t *closure) {
  const auto &c = *reinterpret_cast<const Closure *>(closure);
  size_t begin = size_t(chunk) * c.grain;
  size_t end = begin + c.grain < c.n ? begin + c.grain : c.n;
  (*c.body)(begin, end);
  return 0;
}

} // namespace

void parallelFor(size_t n, size_t grain,
                 const std::function<void(size_t, size_t)> &body) {
  if (n == 0)
    return;
  if (grain == 0)
    grain = n;
  size_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || !halide_do_par_for) {
    body(0, n);
    return;
  }
  Closure c{n, grain, &body};
  halide_do_par_for(nullptr, runChunk, 0, static_cast<int>(chunks),
                    reinterpret_cast<uint8_t *>(&c));
}

} // namespace mtl::rt
