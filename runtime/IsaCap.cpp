//===- IsaCap.cpp - Cap the instruction set a portable binary runs --------===//

#include "runtime/IsaCap.h"
#include "runtime/Error.h"

#include <HalideRuntime.h>

#include <cstdlib>
#include <string>
#include <vector>

// The Halide runtime linked into model binaries (weak: unit tests link
// libmtlrt without one).
extern "C" __attribute__((weak)) halide_can_use_target_features_t
    halide_set_custom_can_use_target_features(halide_can_use_target_features_t);
extern "C" __attribute__((weak)) int
halide_default_can_use_target_features(int count, const uint64_t *features);

namespace mtl::rt {

namespace {

std::vector<int> denied; // features above the cap

int cappedCanUse(int count, const uint64_t *features) {
  for (int f : denied)
    if (f / 64 < count && ((features[f / 64] >> (f % 64)) & 1))
      return 0;
  return halide_default_can_use_target_features(count, features);
}

} // namespace

void capIsaFromEnvironment() {
  const char *env = std::getenv("MTL_ISA");
  if (!env || !*env)
    return;
  std::string cap = env;
  std::vector<int> avx512 = {halide_target_feature_avx512,
                             halide_target_feature_avx512_knl,
                             halide_target_feature_avx512_skylake,
                             halide_target_feature_avx512_cannonlake,
                             halide_target_feature_avx512_sapphirerapids};
  if (cap == "avx512") {
    denied.clear();
  } else if (cap == "avx2") {
    denied = avx512;
  } else if (cap == "sse41") {
    denied = avx512;
    denied.insert(denied.end(),
                  {halide_target_feature_avx, halide_target_feature_avx2,
                   halide_target_feature_fma, halide_target_feature_f16c});
  } else {
    throw Error("MTL_ISA: unknown instruction set '" + cap +
                "' (expected avx512, avx2 or sse41)");
  }
  if (halide_set_custom_can_use_target_features &&
      halide_default_can_use_target_features)
    halide_set_custom_can_use_target_features(cappedCanUse);
}

} // namespace mtl::rt
