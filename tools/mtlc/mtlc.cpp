//===- mtlc.cpp - The mtl compiler driver ---------------------------------===//
//
//   mtlc check spec.toml
//   mtlc build spec.toml -o model [--target=cpu|cuda] [--emit=bin|mlir|obj]
//              [--single-task=NAME]
//
// Spec (TOML) -> AST -> mtl dialect -> passes -> kernel graphs -> Halide AOT
// -> driver + runtime -> one executable.
//
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/Driver.h"
#include "codegen/Flops.h"
#include "codegen/Library.h"
#include "frontend/MLIRGen.h"
#include "frontend/SpecParser.h"
#include "ir/MtlDialect.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"
#include "tools/mtlc/Explore.h"
#include "tools/mtlc/StrategyOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace {

struct BuildOptions {
  std::string spec;
  std::string output;
  std::string target; // "" = the spec's [compile] target
  std::string emit = "bin";
  std::string halideTarget;
  std::string isas; // --isa: CPU instruction sets with run-time dispatch
  std::string schedule = "heuristic";
  bool printIrAfterAll = false;
  bool fusionReport = false;
  std::vector<std::string> tasks; // --tasks: inference of these heads only
  std::string singleTask;         // --single-task: the single-task baseline
  mtl::FusionOptions fusion;
  bool inlineSegments = true; // --no-fuse-inline
  bool mergeSmall = true;     // --no-merge-small
  bool winograd = true;       // --no-winograd
  bool keepTemps = false;
  bool verbose = false;
  int jobs = 0; // step functions compiled at once, 0 = one per core
};

/// Prints MLIR diagnostics the way the frontend prints its own:
/// `file:line:col: error: message`, then notes.
void printDiagnostic(mlir::Diagnostic &diag) {
  auto where = [](mlir::Location loc) {
    std::string s;
    llvm::raw_string_ostream os(s);
    if (auto file = llvm::dyn_cast<mlir::FileLineColLoc>(loc))
      os << file.getFilename().getValue() << ":" << file.getLine() << ":"
         << file.getColumn();
    else
      os << "mtlc";
    return s;
  };
  const char *severity =
      diag.getSeverity() == mlir::DiagnosticSeverity::Error     ? "error"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Warning ? "warning"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Note    ? "note"
                                                                : "remark";
  llvm::errs() << where(diag.getLocation()) << ": " << severity << ": "
               << diag.str() << "\n";
  for (mlir::Diagnostic &note : diag.getNotes())
    llvm::errs() << where(note.getLocation()) << ": note: " << note.str()
                 << "\n";
}

class Timer {
public:
  explicit Timer(bool verbose) : verbose(verbose) {}
  void phase(const char *name) {
    auto now = std::chrono::steady_clock::now();
    if (verbose)
      std::fprintf(stderr, "mtlc: %-28s %7.2f s\n", name,
                   std::chrono::duration<double>(now - last).count());
    last = now;
  }

private:
  bool verbose;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
};

/// `--emit=lib`: the predict pipeline of the kept heads, compiled into
/// `<output>/lib<model>.a` with a C header.
int buildLibrary(const BuildOptions &opts, mtl::spec::Spec spec,
                 mlir::func::FuncOp model, Timer &timer) {
  auto predict =
      mtl::lowerToKernelGraph(model, mtl::StepKind::Predict, "predict");
  if (mlir::failed(predict))
    return 1;
  if (!opts.tasks.empty()) {
    std::vector<mtl::spec::Task> kept;
    for (const mtl::spec::Task &t : spec.tasks)
      if (std::find(opts.tasks.begin(), opts.tasks.end(), t.name) !=
          opts.tasks.end())
        kept.push_back(t);
    spec.tasks = kept;
  }
  std::string dir = opts.output.empty() ? "." : opts.output;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  mtl::codegen::CodegenOptions cg;
  cg.target = opts.target.empty() ? spec.compile.target : opts.target;
  cg.halideTarget = opts.halideTarget;
  cg.isas = opts.isas;
  cg.schedule = opts.schedule;
  cg.inlineSegments = opts.inlineSegments;
  cg.mergeSmallSegments = opts.mergeSmall;
  cg.winograd = opts.winograd;
  cg.outDir = dir;
  std::vector<std::string> objects;
  std::string err = mtl::codegen::compileFunctions({*predict}, cg, objects);
  if (err.empty()) {
    timer.phase("Halide AOT compile");
    mtl::codegen::LinkOptions link;
    link.keepTemps = opts.keepTemps;
    link.verbose = opts.verbose;
    err = mtl::codegen::emitLibrary(spec, *predict, objects, dir, link);
  }
  if (!err.empty()) {
    std::fprintf(stderr, "mtlc: error: %s\n", err.c_str());
    return 1;
  }
  timer.phase("library");
  std::string name = mtl::codegen::detail::sanitizeId(spec.name);
  std::printf("wrote %s/lib%s.a and %s/%s.h\n", dir.c_str(), name.c_str(),
              dir.c_str(), name.c_str());
  return 0;
}

/// Parses the spec and builds its forward module. Null on error (reported).
mlir::OwningOpRef<mlir::ModuleOp>
frontend(mlir::MLIRContext &ctx, const std::string &path,
         std::optional<mtl::spec::Spec> &spec) {
  mtl::DiagnosticEngine diags;
  spec = mtl::parseSpecFile(path, diags);
  if (!spec)
    return nullptr;
  return mtl::mlirGen(ctx, *spec);
}

/// `--single-task=NAME`: the spec reduced to task NAME (its head and the
/// backbone), named `<model>_<NAME>` so its checkpoints stay apart, with
/// the static weighting. False (reported) for an unknown task.
bool reduceToSingleTask(mtl::spec::Spec &spec, const std::string &name) {
  std::vector<std::string> names;
  for (const mtl::spec::Task &t : spec.tasks)
    names.push_back(t.name);
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    std::string all;
    for (const std::string &n : names)
      all += (all.empty() ? "" : ", ") + n;
    std::fprintf(stderr,
                 "mtlc: error: --single-task: the spec has no task '%s' "
                 "(tasks: %s)\n",
                 name.c_str(), all.c_str());
    return false;
  }
  mtl::spec::Task kept = spec.tasks[it - names.begin()];
  kept.weight = 1.0;
  spec.tasks = {kept};
  spec.name += "_" + name;
  spec.strategy = mtl::spec::Strategy();
  return true;
}

int check(const std::string &path) {
  mlir::MLIRContext ctx;
  mlir::ScopedDiagnosticHandler handler(&ctx, [](mlir::Diagnostic &d) {
    printDiagnostic(d);
    return mlir::success();
  });
  std::optional<mtl::spec::Spec> spec;
  auto module = frontend(ctx, path, spec);
  if (!module || mlir::failed(mlir::verify(*module)))
    return 1;
  std::printf("%s: ok: %zu tasks, %zu backbone layers\n", path.c_str(),
              spec->tasks.size(), spec->backbone.size());
  return 0;
}

int build(const BuildOptions &opts) {
  Timer timer(opts.verbose);
  mlir::MLIRContext ctx;
  if (opts.printIrAfterAll)
    ctx.disableMultithreading(); // required by IR printing
  // Remarks are the fusion passes' report: shown on request only.
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() != mlir::DiagnosticSeverity::Remark ||
        opts.fusionReport)
      printDiagnostic(d);
    return mlir::success();
  });
  std::optional<mtl::spec::Spec> spec;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (opts.singleTask.empty()) {
    module = frontend(ctx, opts.spec, spec);
  } else {
    mtl::DiagnosticEngine diags;
    spec = mtl::parseSpecFile(opts.spec, diags);
    if (spec && reduceToSingleTask(*spec, opts.singleTask))
      module = mtl::mlirGen(ctx, *spec);
  }
  if (!module)
    return 1;
  timer.phase("parse + MLIR generation");

  mlir::PassManager pm(&ctx);
  if (opts.printIrAfterAll)
    pm.enableIRPrinting([](mlir::Pass *, mlir::Operation *) { return false; },
                        [](mlir::Pass *, mlir::Operation *) { return true; },
                        /*printModuleScope=*/true);
  // An inference build of some heads (a library, or their IR).
  bool inference = opts.emit == "lib" || !opts.tasks.empty();
  if (inference && opts.emit != "lib" && opts.emit != "mlir") {
    std::fprintf(stderr, "mtlc: error: --tasks builds inference only: use it "
                         "with --emit=lib or --emit=mlir\n");
    return 2;
  }
  if (inference)
    mtl::buildInferencePipeline(pm, opts.tasks, opts.fusion);
  else
    mtl::buildTrainingPipeline(pm, opts.fusion,
                               mtl::strategyOptions(spec->strategy));
  if (mlir::failed(pm.run(*module)))
    return 1;
  timer.phase("passes");

  std::string output = opts.output;
  if (opts.emit == "mlir") {
    if (output.empty() || output == "-") {
      module->print(llvm::outs());
      llvm::outs() << "\n";
      return 0;
    }
    std::error_code ec;
    llvm::raw_fd_ostream os(output, ec);
    if (ec) {
      llvm::errs() << "mtlc: error: cannot write '" << output
                   << "': " << ec.message() << "\n";
      return 1;
    }
    module->print(os);
    return 0;
  }

  auto model = module->lookupSymbol<mlir::func::FuncOp>("model");
  if (opts.emit == "lib")
    return buildLibrary(opts, *spec, model, timer);
  auto trainStep = module->lookupSymbol<mlir::func::FuncOp>("train_step");
  std::vector<mtl::kg::Function> functions;
  struct Step {
    mlir::func::FuncOp fn;
    mtl::StepKind kind;
    const char *name;
  } steps[] = {{trainStep, mtl::StepKind::Train, "train_step"},
               {model, mtl::StepKind::Eval, "eval_step"},
               {model, mtl::StepKind::Predict, "predict"}};
  for (const Step &s : steps) {
    auto fn = mtl::lowerToKernelGraph(s.fn, s.kind, s.name);
    if (mlir::failed(fn))
      return 1;
    functions.push_back(std::move(*fn));
  }
  timer.phase("lowering to kernels");
  if (opts.verbose)
    for (const mtl::kg::Function &f : functions)
      std::fprintf(stderr, "mtlc: %-12s %4zu ops, %8.3f GFLOP per call\n",
                   f.name.c_str(), f.nodes.size(),
                   mtl::codegen::functionFlops(f) / 1e9);

  bool objectsOnly = opts.emit == "obj" || opts.emit == "halide-stmt";
  if (output.empty())
    output = objectsOnly ? "." : "model";
  std::string target = opts.target.empty() ? spec->compile.target : opts.target;
  mtl::codegen::CodegenOptions cg;
  cg.target = target;
  cg.halideTarget = opts.halideTarget;
  cg.isas = opts.isas;
  cg.schedule = opts.schedule;
  cg.inlineSegments = opts.inlineSegments;
  cg.mergeSmallSegments = opts.mergeSmall;
  cg.winograd = opts.winograd;
  std::filesystem::path tmp =
      objectsOnly ? std::filesystem::path(output)
                  : std::filesystem::path(output + ".mtlc-build");
  std::error_code ec;
  std::filesystem::create_directories(tmp, ec);
  if (ec) {
    std::fprintf(stderr, "mtlc: error: cannot create '%s': %s\n", tmp.c_str(),
                 ec.message().c_str());
    return 1;
  }
  cg.outDir = tmp.string();
  cg.emitStmt = opts.emit == "halide-stmt";
  cg.jobs = opts.jobs;
  cg.verbose = opts.verbose;
  std::vector<std::string> objects;
  std::string err = mtl::codegen::compileFunctions(functions, cg, objects);
  if (!err.empty()) {
    std::fprintf(stderr, "mtlc: error: code generation failed: %s\n",
                 err.c_str());
    return 1;
  }
  timer.phase("Halide AOT compile");
  if (objectsOnly) {
    if (cg.emitStmt)
      std::printf("Halide statements: %s/mtl_{train_step,eval_step,predict}"
                  ".stmt (and .stmt.html)\n",
                  tmp.c_str());
    return 0;
  }

  mtl::codegen::LinkOptions link;
  link.keepTemps = opts.keepTemps;
  link.verbose = opts.verbose;
  err =
      mtl::codegen::emitAndLinkBinary(*spec, functions, objects, output, link);
  if (!opts.keepTemps)
    std::filesystem::remove_all(tmp, ec);
  if (!err.empty()) {
    std::fprintf(stderr, "mtlc: error: linking failed: %s\n", err.c_str());
    return 1;
  }
  timer.phase("driver + link");
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  CLI::App app{"mtlc: compiles a multi-task model spec (TOML) into a "
               "standalone training binary"};
  app.require_subcommand(1);

  std::string checkPath;
  auto *checkCmd = app.add_subcommand(
      "check", "parse and verify a spec (shapes included), build nothing");
  checkCmd->add_option("spec", checkPath, "model spec (.toml)")
      ->required()
      ->check(CLI::ExistingFile);

  BuildOptions opts;
  auto *buildCmd = app.add_subcommand("build", "compile a spec");
  buildCmd->add_option("spec", opts.spec, "model spec (.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  buildCmd->add_option("-o,--output", opts.output,
                       "output executable (default: model), or file for "
                       "--emit=mlir, or folder for --emit=obj");
  buildCmd
      ->add_option("--target", opts.target,
                   "cpu | cuda (default: the spec's [compile] target)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  buildCmd
      ->add_option("--emit", opts.emit,
                   "bin: executable; mlir: the IR after all passes; obj: "
                   "Halide objects only; halide-stmt: Halide's lowered "
                   "statements (text and HTML) beside the objects; lib: a "
                   "static library + C header for inference (-o: folder)")
      ->check(CLI::IsMember({"bin", "mlir", "obj", "halide-stmt", "lib"}));
  buildCmd
      ->add_option("--tasks", opts.tasks,
                   "inference of these tasks only (dead-head elimination), "
                   "e.g. --tasks=label,box; with --emit=lib or --emit=mlir")
      ->delimiter(',');
  buildCmd->add_option(
      "--single-task", opts.singleTask,
      "build the single-task baseline of this task: its head on the "
      "backbone, trained alone (model name <model>_<task>)");
  buildCmd->add_option("--halide-target", opts.halideTarget,
                       "explicit Halide target string (overrides --target)");
  buildCmd
      ->add_option(
          "--isa", opts.isas,
          "CPU instruction sets to compile every kernel for, each with its own "
          "register tiles, the best one the CPU has chosen at run time (a "
          "portable binary), e.g. --isa=avx512,avx2,sse41; default: the host's "
          "alone")
      ->check([](const std::string &isas) {
        return mtl::codegen::checkIsaList(isas);
      });
  const auto schedules = CLI::IsMember(
      {"heuristic", "auto", "mullapudi2016", "li2018"}, CLI::ignore_case);
  buildCmd
      ->add_option("--schedule", opts.schedule,
                   "heuristic: mtlc's schedules per op class (default); "
                   "auto: Halide's autoscheduler (Mullapudi2016 on the CPU, "
                   "Li2018 on the GPU), or name one: mullapudi2016, "
                   "li2018 (GPU only)")
      ->check(schedules);
  buildCmd->add_flag("!--no-fuse-heads", opts.fusion.heads,
                     "leave out horizontal head fusion (mtl-fuse-heads)");
  buildCmd->add_flag("!--no-fuse-join", opts.fusion.join,
                     "leave out join fusion (mtl-fuse-join)");
  buildCmd->add_flag("!--no-fuse-epilogue", opts.fusion.epilogue,
                     "leave out epilogue fusion (mtl-fuse-epilogue)");
  buildCmd->add_flag("!--no-fuse-losses", opts.fusion.losses,
                     "leave out loss fusion (mtl-fuse-losses)");
  buildCmd->add_flag("!--recompute-states", opts.fusion.saveStates,
                     "an lstm's or gru's backward recomputes the forward "
                     "recurrence instead of reading its saved state "
                     "(mtl-save-recurrent-state), and a first layer's pool "
                     "gradient its window maxima (mtl-save-pool-argmax)");
  buildCmd->add_flag("!--no-fuse-inline", opts.inlineSegments,
                     "store every kernel's result: no pool gradient, "
                     "training batch norm, heads' grad-input, first-layer "
                     "conv or batch-norm input gradient, or upsample "
                     "computed inline in its readers (CPU segments, "
                     "docs/codegen.md)");
  buildCmd->add_flag("!--no-merge-small", opts.mergeSmall,
                     "compile every small kernel (a head's last products, "
                     "its loss, their gradients, bias sums) as its own CPU "
                     "pipeline instead of grouping them (docs/codegen.md)");
  buildCmd->add_flag("!--no-winograd", opts.winograd,
                     "compute every conv directly: no 3x3 stride-1 conv, "
                     "grad-input or grad-filter by Winograd's F(4x4) or "
                     "F(2x2) (CPU, docs/codegen.md)");
  buildCmd->add_flag("!--fuse-always", opts.fusion.costModel,
                     "fuse every head/join candidate, even where the cost "
                     "model predicts the copies cost more than they save");
  buildCmd->add_flag("--fusion-report", opts.fusionReport,
                     "print which fusion groups were formed, and why others "
                     "were not");
  buildCmd->add_flag("--print-ir-after-all", opts.printIrAfterAll,
                     "print the IR after every pass to stderr");
  buildCmd->add_flag("--keep-temps", opts.keepTemps,
                     "keep the generated driver and objects");
  buildCmd->add_flag("-v,--verbose", opts.verbose, "print timing per phase");
  buildCmd
      ->add_option("-j,--jobs", opts.jobs,
                   "Halide pipelines compiled in parallel (a CPU step is one "
                   "per kernel; default: one per core)")
      ->check(CLI::NonNegativeNumber);

  mtl::ExploreOptions explore;
  auto *exploreCmd = app.add_subcommand(
      "explore", "compare fusion, schedule and strategy variants of a "
                 "spec's train step");
  exploreCmd->add_option("spec", explore.spec, "model spec (.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  exploreCmd->add_option("--steps", explore.steps, "timed steps per variant")
      ->check(CLI::PositiveNumber);
  exploreCmd
      ->add_option("--threads", explore.threads,
                   "threads (Halide's pool and the FMA peak)")
      ->check(CLI::PositiveNumber);
  exploreCmd->add_flag("--json", explore.json, "print JSON for scripts");
  exploreCmd
      ->add_option("--schedules", explore.autoschedulers,
                   "Halide autoschedulers compared with mtlc's schedules, "
                   "each on the all-fusions build (default: auto; 'none' "
                   "for none)")
      ->delimiter(',')
      ->check(
          CLI::IsMember({"none", "auto", "mullapudi2016"}, CLI::ignore_case));
  exploreCmd
      ->add_option("--strategies", explore.gradients,
                   "gradient methods to time as variants, on the shared "
                   "representation (their cost: the unfused task join and "
                   "the runtime's combine) or, as METHOD:param, on the "
                   "shared parameters (a backbone sweep per task and the "
                   "combine over them), e.g. pcgrad,mgda_ub,cagrad:param")
      ->delimiter(',')
      ->check(CLI::IsMember([] {
        std::vector<std::string> allowed; // METHOD, METHOD:rep, METHOD:param
        for (const char *m : {"pcgrad", "mgda_ub", "cagrad", "imtl_g"})
          for (const char *on : {"", ":rep", ":param"})
            allowed.push_back(std::string(m) + on);
        return allowed;
      }()));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() != 0)
      std::cerr << "mtlc: error: " << e.what() << "\n"
                << "run 'mtlc --help' for usage\n";
    else
      return app.exit(e);
    return 2;
  }
  if (*checkCmd)
    return check(checkPath);
  if (*exploreCmd) {
    // The pipelines run on Halide's thread pool.
    setenv("HL_NUM_THREADS", std::to_string(explore.threads).c_str(), 1);
    return mtl::explore(explore);
  }
  return build(opts);
}
