//===- Init.h - Parameter initialization ---------------------------------===//
#ifndef MTL_RUNTIME_INIT_H
#define MTL_RUNTIME_INIT_H

#include "runtime/Descriptor.h"

#include <random>

namespace mtl::rt {

/// Fills `values` (numElements(param.shape) floats) per `param.init`:
/// he_normal: N(0, sqrt(2 / fan_in)); glorot_uniform: U(-l, l) with
/// l = sqrt(6 / (fan_in + fan_out)); zeros; ones.
void initParam(const ParamSpec &param, float *values, std::mt19937_64 &rng);

/// Initializes every parameter in descriptor order from one seeded engine.
void initParams(const std::vector<ParamSpec> &params, float *values,
                uint64_t seed);

} // namespace mtl::rt

#endif // MTL_RUNTIME_INIT_H
