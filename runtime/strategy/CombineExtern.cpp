//===- CombineExtern.cpp - The join of a train step, called back ----------===//
//
// mtlc lowers a join where task gradients meet, when a strategy needs them
// apart, to a Halide extern stage calling this function with the T task
// gradients stacked along the outermost dimension (`taskMask`: which tasks,
// bit t = task t, in that order). Halide first calls it in
// bounds-query mode (no host pointer): it then asks for the whole stack
// over the region of the output. The real call combines them with the
// active strategy (a plain sum without one), so the backward pass continues
// in the same step.
//
//===----------------------------------------------------------------------===//
#include "runtime/strategy/Strategy.h"

#include <HalideRuntime.h>

using namespace mtl::rt::strategy;

extern "C" int mtl_rt_combine_task_grads(int32_t tasks, int32_t taskMask,
                                         halide_buffer_t *stacked,
                                         halide_buffer_t *out) {
  const int d = out->dimensions;
  if (stacked->dimensions != d + 1)
    return -1;
  if (stacked->is_bounds_query()) {
    for (int i = 0; i < d; ++i) {
      stacked->dim[i].min = out->dim[i].min;
      stacked->dim[i].extent = out->dim[i].extent;
    }
    stacked->dim[d].min = 0;
    stacked->dim[d].extent = tasks;
    return 0;
  }
  // Both buffers are dense over the same region (as asked for above).
  int64_t n = 1;
  for (int i = 0; i < d; ++i) {
    if (stacked->dim[i].extent != out->dim[i].extent ||
        stacked->dim[i].stride != out->dim[i].stride)
      return -1;
    n *= out->dim[i].extent;
  }
  const float *base = reinterpret_cast<const float *>(stacked->host);
  std::vector<const float *> g(tasks);
  for (int t = 0; t < tasks; ++t)
    g[t] = base + static_cast<int64_t>(t - stacked->dim[d].min) *
                      stacked->dim[d].stride;
  float *o = reinterpret_cast<float *>(out->host);
  if (TaskStrategy *s = activeStrategy())
    s->combine(g, n, o, taskMask);
  else
    combine(g, n, std::vector<double>(tasks, 1.0), o);
  return 0;
}
