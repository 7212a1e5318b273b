//===- peak.cpp - The machine's measured fp32 FMA peak --------------------===//
//
//   mtl-peak [--threads 1,2] [--seconds 0.6] [--isa avx512|avx2|sse41] [--json]
//
// The FMA micro-benchmark `mtlc explore` and mtl-bench-kernels divide by
// (tools/mtlc/PeakFlops.cpp: 12 independent register chains per thread,
// AVX-512 where the CPU has it), as a command for bench/reference_step.sh.
//
//===----------------------------------------------------------------------===//
#include "tools/mtlc/PeakFlops.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  std::string threads = "1,2";
  double seconds = 0.6;
  bool json = false;
  std::string isa = __builtin_cpu_supports("avx512f") ? "avx512" : "avx2";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = argv[++i];
    else if (a.rfind("--threads=", 0) == 0)
      threads = a.substr(10);
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a == "--json")
      json = true;
    else if (a == "--isa" && i + 1 < argc)
      isa = argv[++i];
    else if (a.rfind("--isa=", 0) == 0)
      isa = a.substr(6);
    else {
      std::fprintf(stderr, "usage: mtl-peak [--threads 1,2] [--seconds S] "
                           "[--isa avx512|avx2|sse41] [--json]\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  std::vector<int> counts;
  std::stringstream ss(threads);
  for (std::string t; std::getline(ss, t, ',');)
    if (std::atoi(t.c_str()) > 0)
      counts.push_back(std::atoi(t.c_str()));
  if (counts.empty() || seconds <= 0) {
    std::fprintf(stderr, "mtl-peak: error: bad --threads or --seconds\n");
    return 2;
  }
  if (isa != "avx512" && isa != "avx2" && isa != "sse41") {
    std::fprintf(stderr, "mtl-peak: error: --isa: expected avx512, avx2 or "
                         "sse41\n");
    return 2;
  }
  if (json)
    std::printf("{\"isa\": \"%s\", \"peaks\": [", isa.c_str());
  for (size_t i = 0; i < counts.size(); ++i) {
    double g = mtl::measurePeakGflops(counts[i], seconds, isa);
    if (json)
      std::printf("%s{\"threads\": %d, \"gflops\": %.2f}", i ? ", " : "",
                  counts[i], g);
    else
      std::printf("fp32 FMA peak (%s), %d thread(s): %.1f GFLOP/s\n",
                  isa.c_str(), counts[i], g);
  }
  if (json)
    std::printf("]}\n");
  return 0;
}
