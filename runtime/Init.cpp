//===- Init.cpp - Parameter initialization -------------------------------===//

#include "runtime/Init.h"
#include "runtime/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace mtl::rt {

void initParam(const ParamSpec &param, float *values, std::mt19937_64 &rng) {
  int64_t n = numElements(param.shape);
  if (param.init == "zeros" || param.init == "ones") {
    std::fill(values, values + n, param.init == "ones" ? 1.0f : 0.0f);
  } else if (param.init == "he_normal") {
    std::normal_distribution<float> dist(
        0.0f, static_cast<float>(std::sqrt(2.0 / param.fanIn)));
    for (int64_t i = 0; i < n; ++i)
      values[i] = dist(rng);
  } else if (param.init == "glorot_uniform") {
    float limit =
        static_cast<float>(std::sqrt(6.0 / (param.fanIn + param.fanOut)));
    std::uniform_real_distribution<float> dist(-limit, limit);
    for (int64_t i = 0; i < n; ++i)
      values[i] = dist(rng);
  } else if (param.init.rfind("values:", 0) == 0) {
    // The spec's bias_init: one value for all, or one per element.
    std::vector<float> v;
    const char *p = param.init.c_str() + 7;
    while (*p) {
      char *end = nullptr;
      v.push_back(std::strtof(p, &end));
      if (end == p || (*end && *end != ','))
        fail("parameter '{}': malformed initializer '{}'", param.name,
             param.init);
      p = *end ? end + 1 : end;
    }
    if (v.size() != 1 && static_cast<int64_t>(v.size()) != n)
      fail("parameter '{}': initializer has {} values for {} elements",
           param.name, v.size(), n);
    for (int64_t i = 0; i < n; ++i)
      values[i] = v.size() == 1 ? v[0] : v[i];
  } else {
    fail("parameter '{}': unknown initializer '{}'", param.name, param.init);
  }
}

void initParams(const std::vector<ParamSpec> &params, float *values,
                uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const ParamSpec &p : params) {
    initParam(p, values, rng);
    values += numElements(p.shape);
  }
}

} // namespace mtl::rt
