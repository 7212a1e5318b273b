//===- Library.h - `mtlc build --emit=lib`: embeddable inference -*- C++
//-*-===//
#ifndef MTL_CODEGEN_LIBRARY_H
#define MTL_CODEGEN_LIBRARY_H

#include "codegen/Driver.h"

namespace mtl::codegen {

/// Writes `<outDir>/lib<model>.a` (the predict pipeline, its Halide runtime,
/// the C API and the runtime it needs) and `<outDir>/<model>.h` (a C API
/// whose predict function takes exactly the outputs of `predict`, the heads
/// kept by dead-head elimination). `spec.tasks` must be those heads.
/// Returns "" or an error.
std::string emitLibrary(const spec::Spec &spec, const kg::Function &predict,
                        const std::vector<std::string> &objectFiles,
                        const std::string &outDir, const LinkOptions &options);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_LIBRARY_H
