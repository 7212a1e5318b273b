//===- Isa.cpp - The CPU instruction sets mtlc schedules for --------------===//

#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <algorithm>
#include <sstream>

using namespace Halide;

namespace mtl::codegen {

namespace {
constexpr Isa kAvx512{"avx512", 16, 32};
constexpr Isa kAvx2{"avx2", 8, 16};
constexpr Isa kSse41{"sse41", 4, 16};

thread_local Isa current = kAvx512;
} // namespace

Isa isaOf(const Target &t) {
  if (t.has_feature(Target::AVX512_Skylake) || t.has_feature(Target::AVX512))
    return kAvx512;
  if (t.has_feature(Target::AVX2))
    return kAvx2;
  return kSse41;
}

const Isa &isa() { return current; }

IsaScope::IsaScope(const Target &t) : saved(current) { current = isaOf(t); }
IsaScope::~IsaScope() { current = saved; }

Target isaTarget(const std::string &name) {
  // The AVX-512 string names its features explicitly: the detected Zen 4
  // host target claims Sapphire Rapids, which lets LLVM emit AMX.
  if (name == "avx512")
    return Target("x86-64-linux-avx-avx2-avx512-avx512_cannonlake-"
                  "avx512_skylake-f16c-fma-sse41");
  if (name == "avx2")
    return Target("x86-64-linux-avx-avx2-f16c-fma-sse41");
  if (name == "sse41")
    return Target("x86-64-linux-sse41");
  throw LoweringError{"unknown instruction set '" + name +
                      "' (expected avx512, avx2 or sse41)"};
}

std::vector<std::string> parseIsaList(const std::string &list) {
  std::vector<std::string> names;
  std::stringstream ss(list);
  for (std::string name; std::getline(ss, name, ',');) {
    isaTarget(name); // validates
    for (const std::string &seen : names)
      if (seen == name)
        throw LoweringError{"instruction set '" + name + "' listed twice"};
    names.push_back(name);
  }
  if (names.empty())
    throw LoweringError{"empty instruction set list"};
  // Most capable first: Halide's multi-target wrapper takes the first the
  // CPU can run, and the last unconditionally.
  auto rank = [](const std::string &n) { return isaOf(isaTarget(n)).lanes; };
  std::stable_sort(names.begin(), names.end(),
                   [&](const std::string &a, const std::string &b) {
                     return rank(a) > rank(b);
                   });
  return names;
}

} // namespace mtl::codegen
