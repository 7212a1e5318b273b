//===- Codegen.cpp - AOT compile step functions + one Halide runtime -----===//
//
// Every pipeline is compiled with `no_runtime`; the binary gets exactly one
// runtime from compile_standalone_runtime (several copies would clash).
//
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Lowering.h"

using namespace Halide;

namespace mtl::codegen {

/// Runs `body`, turning every exception into an error string.
template <typename F> static std::string guarded(F body) {
  try {
    body();
    return "";
  } catch (const LoweringError &e) {
    return e.message;
  } catch (const Halide::Error &e) {
    return std::string("Halide: ") + e.what();
  } catch (const std::exception &e) {
    return std::string("codegen: ") + e.what();
  } catch (...) {
    return "codegen: unknown exception";
  }
}

std::string resolveTarget(const CodegenOptions &options) {
  std::string out;
  std::string err = guarded([&] {
    out = chooseTarget(options.target, options.halideTarget).to_string();
  });
  return err.empty() ? out : "error: " + err;
}

std::string compileFunctions(const std::vector<kg::Function> &functions,
                             const CodegenOptions &options,
                             std::vector<std::string> &outFiles) {
  return guarded([&] {
    Target target = chooseTarget(options.target, options.halideTarget);
    std::string dir = options.outDir.empty() ? "." : options.outDir;
    for (const kg::Function &fn : functions) {
      LoweredFunction lf = lowerFunction(fn, target);
      std::string cname = "mtl_" + sanitize(fn.name);
      std::string prefix = dir + "/" + cname;
      std::map<OutputFileType, std::string> files = {
          {OutputFileType::object, prefix + ".o"},
          {OutputFileType::c_header, prefix + ".h"}};
      if (options.emitStmt) {
        files[OutputFileType::stmt_html] = prefix + ".stmt.html";
        files[OutputFileType::stmt] = prefix + ".stmt";
      }
      lf.pipeline.compile_to(files, lf.arguments(), cname,
                             target.with_feature(Target::NoRuntime));
      outFiles.push_back(prefix + ".o");
    }
    std::string runtime = dir + "/halide_runtime.o";
    compile_standalone_runtime(runtime, target);
    outFiles.push_back(runtime);
  });
}

} // namespace mtl::codegen
