//===- CompiledModel.h - What mtlc links into a model binary ------------===//
//
// `mtlc build` emits a small C++ file (the driver) that defines one
// CompiledModel and calls mtl::rt::main with it. The runtime library does
// everything else: data, training loop, optimizers, metrics, checkpoints, CLI.
//
// The descriptor is JSON (see docs/runtime.md, "Model descriptor"). Each
// pipeline is a Halide AOT function called through its `_argv` entry point:
// argv holds, in the order the descriptor lists them, one halide_buffer_t*
// per argument followed by one per output.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_COMPILEDMODEL_H
#define MTL_RUNTIME_COMPILEDMODEL_H

struct halide_filter_metadata_t;

namespace mtl::rt {

struct PipelineEntry {
  const char *name;         // train_step | eval_step | predict
  int (*argv)(void **args); // Halide `<name>_argv`
  const halide_filter_metadata_t *(*metadata)(); // Halide `<name>_metadata`
};

struct CompiledModel {
  const char *descriptorJson;
  const PipelineEntry *pipelines;
  int numPipelines;
};

/// The produced binary's main: `model train | eval | predict | bench`.
int main(const CompiledModel &model, int argc, char **argv);

} // namespace mtl::rt

#endif // MTL_RUNTIME_COMPILEDMODEL_H
