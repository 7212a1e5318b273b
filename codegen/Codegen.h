//===- Codegen.h - Ahead-of-time compilation of step functions -----------===//
//
// Plain C++ (no Halide types): mtlc, built without exceptions, calls this.
// Errors come back as strings; no exception ever crosses this boundary.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_CODEGEN_H
#define MTL_CODEGEN_CODEGEN_H

#include "codegen/KernelGraph.h"

#include <string>
#include <vector>

namespace mtl::codegen {

struct CodegenOptions {
  std::string target = "cpu"; // cpu | cuda
  std::string halideTarget;   // Halide target string override, "" = auto
  std::string outDir;         // where objects go ("" = current directory)
  bool emitStmt = false;      // also write <fn>.stmt (--emit=halide-stmt)
  int jobs = 0;               // functions compiled at once, 0 = one per core
  bool verbose = false;       // print each function's compile time
  /// heuristic (the hand-written schedules of codegen/ops) | auto |
  /// mullapudi2016 | li2018 (Halide's autoschedulers, AutoSchedule.h).
  std::string schedule = "heuristic";
  /// CPU instruction sets to compile every pipeline for, e.g.
  /// "avx512,avx2,sse41" (Isa.h): one variant each, chosen at run time by
  /// the CPU's features. "" = the host's alone.
  std::string isas;
  /// CPU segments compute a pool gradient, a training batch norm, the
  /// grad-inputs a join sums, a first layer's conv or an upsample inline in
  /// their readers where they can (Segments.h); false: every node's result
  /// stored (`mtlc build --no-fuse-inline`).
  bool inlineSegments = true;
  /// Small kernels (a head's last products, its loss and their gradients,
  /// bias sums, running statistics) share CPU pipelines (SmallUnits.h);
  /// false: one pipeline each (`mtlc build --no-merge-small`).
  bool mergeSmallSegments = true;
  /// 3 x 3 stride-1 convs and both their gradients by Winograd's F(4x4) or
  /// F(2x2) where they qualify (ops/Winograd.cpp); false: every conv direct
  /// (`mtlc build --no-winograd`).
  bool winograd = true;
};

/// Compiles each Function to `<outDir>/mtl_<name>.o` (+ `.h`) with C entry
/// points `mtl_<name>_argv` / `mtl_<name>_metadata`; pipeline arguments are
/// Function.args then Function.outputs, in order. Adds one standalone Halide
/// runtime object, `<outDir>/halide_runtime.o`. `outFiles` receives the
/// object files to link. The functions are compiled in parallel (the Halide
/// compiler is thread-safe for pipelines that share no Funcs or Exprs; each
/// is lowered in its own thread). Returns "" on success, else the first
/// error message.
std::string compileFunctions(const std::vector<kg::Function> &functions,
                             const CodegenOptions &options,
                             std::vector<std::string> &outFiles);

/// The Halide target string `options` resolves to, or "error: ...".
std::string resolveTarget(const CodegenOptions &options);

/// "" if `isas` is a valid CodegenOptions::isas list, else why not.
std::string checkIsaList(const std::string &isas);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_CODEGEN_H
