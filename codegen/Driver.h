//===- Driver.h - Emit the model driver and link the binary --------------===//
//
// The driver is a small C++ file: the model descriptor (JSON, schema in
// docs/runtime.md), a PipelineEntry table pointing at the AOT pipelines and
// `main` calling mtl::rt::main. No Halide here.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_DRIVER_H
#define MTL_CODEGEN_DRIVER_H

#include "codegen/KernelGraph.h"
#include "frontend/Spec.h"

#include <string>
#include <vector>

namespace mtl::codegen {

struct LinkOptions {
  std::string runtimeLib; // libmtlrt.a; "" = the one this build made
  std::string includeDir; // has runtime/CompiledModel.h; "" = source root
  std::string cxx;        // "" = $CXX, else c++
  std::vector<std::string> extraArgs; // appended to the link line
  bool keepTemps = false;             // keep <output>.driver.cpp
  bool verbose = false; // print the compiler command line to stderr
};

/// The descriptor JSON for `spec` and its lowered `functions`.
std::string modelDescriptor(const spec::Spec &spec,
                            const std::vector<kg::Function> &functions);

/// The driver C++ source.
std::string driverSource(const spec::Spec &spec,
                         const std::vector<kg::Function> &functions);

/// Writes the driver next to `outputPath`, compiles it and links it with
/// `objectFiles` (pipelines + Halide runtime) and the runtime library.
/// Returns "" on success, else an error message (with compiler output).
std::string emitAndLinkBinary(const spec::Spec &spec,
                              const std::vector<kg::Function> &functions,
                              const std::vector<std::string> &objectFiles,
                              const std::string &outputPath,
                              const LinkOptions &options);

/// The C++ that defines `kModel`, the CompiledModel of `functions` (the
/// descriptor and the pipeline table), shared by binaries and libraries.
std::string compiledModelSource(const spec::Spec &spec,
                                const std::vector<kg::Function> &functions);

namespace detail {
std::string cString(const std::string &s);    // a C string literal
std::string shellQuote(const std::string &s); // one shell word
std::string sanitizeId(const std::string &s); // a C identifier
std::string compiler(const LinkOptions &options);
std::string runtimeLibrary(const LinkOptions &options);
std::string includeDirectory(const LinkOptions &options);
/// Runs `cmd` with its output captured; "" or the error with the output.
std::string runCommand(const std::string &cmd, bool verbose,
                       const std::string &logPath);
} // namespace detail

} // namespace mtl::codegen

#endif // MTL_CODEGEN_DRIVER_H
