//===- ParallelFor.h - Run a loop on Halide's thread pool
//------------------===//
//
// The runtime's own loops over all parameters (the optimizer update) run on
// the thread pool of the Halide runtime linked into the model binary, so a
// step never has more busy threads than HL_NUM_THREADS: no second pool, no
// oversubscription. Binaries without a Halide runtime (unit tests of
// libmtlrt) run the loop serially.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_PARALLELFOR_H
#define MTL_RUNTIME_PARALLELFOR_H

#include <cstddef>
#include <functional>

namespace mtl::rt {

/// Calls body(begin, end) on disjoint ranges covering [0, n), each at most
/// `grain` long (the last may be shorter), possibly on several threads.
void parallelFor(size_t n, size_t grain,
                 const std::function<void(size_t, size_t)> &body);

} // namespace mtl::rt

#endif // MTL_RUNTIME_PARALLELFOR_H
