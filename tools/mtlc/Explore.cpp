//===- Explore.cpp - mtlc explore: compare fusion variants ----------------===//
//
// Every variant is compiled in this process (Halide JIT, the same lowering
// and schedules as the AOT build) and run on one seeded random batch and
// parameter set, so timings and outputs are comparable across variants.
//
//===----------------------------------------------------------------------===//
#include "tools/mtlc/Explore.h"
#include "codegen/Evaluate.h"
#include "codegen/Flops.h"
#include "codegen/MemoryPlan.h"
#include "frontend/MLIRGen.h"
#include "frontend/SpecParser.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"
#include "runtime/Heap.h"
#include "runtime/strategy/Strategy.h"
#include "tools/mtlc/PeakFlops.h"
#include "tools/mtlc/StrategyOptions.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

// runtime/strategy/CombineExtern.cpp (libmtlrt, linked into mtlc).
extern "C" int mtl_rt_combine_task_grads(int32_t tasks, int32_t taskMask,
                                         halide_buffer_t *stacked,
                                         halide_buffer_t *out);

namespace mtl {

namespace {

using codegen::HostTensor;
using Tensors = std::map<std::pair<kg::ArgKind, std::string>, HostTensor>;

struct Variant {
  std::string name;
  FusionOptions fusion;
  std::string schedule;   // "" = codegen/ops' schedules, else an autoscheduler
  std::string gradient;   // "" = the spec's strategy, else a gradient method
  std::string on = "rep"; // where: the shared representation (task joins
                          // kept) or the shared parameters (param)
  bool direct = false;    // every conv direct (no Winograd)
};

struct Result {
  std::string name;
  double msPerStep = 0, gflops = 0, gflopPerStep = 0;
  size_t kernels = 0;
  double peakMB = 0, naiveMB = 0;
  double maxRelDiff = 0;
  std::string worst; // the output with the largest difference
  std::string error;
};

/// Whether a layer of the spec may keep a state for its backward: a
/// recurrence (lstm, gru: mtl-save-recurrent-state) or a max pool (a first
/// layer's argmax: mtl-save-pool-argmax).
bool hasSavedState(const spec::Spec &spec) {
  auto recurrent = [](const std::vector<spec::Layer> &layers) {
    return std::any_of(layers.begin(), layers.end(), [](const spec::Layer &l) {
      return l.op == "lstm" || l.op == "gru" || l.op == "max_pool";
    });
  };
  return recurrent(spec.backbone) ||
         std::any_of(spec.tasks.begin(), spec.tasks.end(),
                     [&](const spec::Task &t) { return recurrent(t.head); });
}

std::vector<Variant> variants(const std::vector<std::string> &schedules,
                              const std::vector<std::string> &gradients,
                              bool savedState) {
  std::vector<Variant> v{{"all fusions", FusionOptions(), ""}};
  for (auto &[name, flag] : FusionOptions::flags()) {
    FusionOptions f;
    f.*flag = false;
    v.push_back({std::string("no ") + name, f, ""});
  }
  FusionOptions none;
  for (auto &[name, flag] : FusionOptions::flags())
    none.*flag = false;
  none.saveStates = false;
  if (savedState) { // the backward recomputes what the forward kept
    FusionOptions recompute;
    recompute.saveStates = false;
    v.push_back({"recompute states", recompute, ""});
  }
  FusionOptions forced; // every head/join candidate, whatever it costs
  forced.costModel = false;
  v.push_back({"fusions forced", forced, ""});
  Variant direct{"direct convs", FusionOptions(), ""}; // no Winograd
  direct.direct = true;
  v.push_back(direct);
  for (const std::string &s : schedules)
    if (s != "none")
      v.push_back({"sched " + s, FusionOptions(), s}); // all fusions on
  for (const std::string &g : gradients) {
    // METHOD or METHOD:rep / METHOD:param (--strategies)
    size_t colon = g.find(':');
    std::string method = g.substr(0, colon);
    std::string on = colon == std::string::npos ? "rep" : g.substr(colon + 1);
    v.push_back({method + " (" + on + ")", FusionOptions(), "", method, on});
  }
  // Last: explore runs it first, the reference of the others.
  Variant off{"all off", none, ""};
  off.direct = true;
  v.push_back(off);
  return v;
}

/// The spec's train step built with `fusion`; empty name on error
/// (reported on stderr).
kg::Function buildTrainStep(spec::Spec spec, const FusionOptions &fusion,
                            const std::string &gradient = "",
                            const std::string &on = "rep") {
  if (!gradient.empty()) {
    spec.strategy.gradient = gradient;
    spec.strategy.on = on;
  }
  mlir::MLIRContext ctx;
  mlir::ScopedDiagnosticHandler handler(&ctx, [](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      std::fprintf(stderr, "mtlc: error: %s\n", d.str().c_str());
    return mlir::success();
  });
  auto module = mlirGen(ctx, spec);
  if (!module)
    return {};
  mlir::PassManager pm(&ctx);
  buildTrainingPipeline(pm, fusion, strategyOptions(spec.strategy));
  if (mlir::failed(pm.run(*module)))
    return {};
  auto fn =
      lowerToKernelGraph(module->lookupSymbol<mlir::func::FuncOp>("train_step"),
                         StepKind::Train, "train_step");
  return mlir::succeeded(fn) ? *fn : kg::Function();
}

/// Seeded random arguments (codegen::randomArgs), keyed by (kind, name) so
/// every variant binds the same data whatever its argument order.
Tensors randomArgs(const kg::Function &fn) {
  std::vector<HostTensor> values = codegen::randomArgs(fn, 1234);
  Tensors args;
  for (size_t k = 0; k < fn.args.size(); ++k)
    args[{fn.args[k].kind, fn.args[k].name}] = std::move(values[k]);
  return args;
}

double maxAbs(const HostTensor &t) {
  double m = 0;
  for (float v : t.f32)
    m = std::max(m, double(std::abs(v)));
  return m;
}

/// max |a - b| relative to the reference's largest value. An output whose
/// reference is below 1e-4 of the largest output of its kind is round-off
/// (a conv bias before batch norm: zero in exact arithmetic, its computed
/// value is the rounding error of a sum over the batch): it is compared to
/// that largest value instead, as a whole-gradient norm comparison would.
double relDiff(const HostTensor &a, const HostTensor &b, double largest) {
  double diff = 0;
  for (size_t i = 0; i < a.f32.size() && i < b.f32.size(); ++i)
    diff = std::max(diff, double(std::abs(a.f32[i] - b.f32[i])));
  double scale = maxAbs(b);
  if (scale < 1e-4 * largest)
    scale = largest;
  return diff / std::max(scale, 1e-30);
}

/// A `param` variant's per-task gradients of the shared parameters
/// (outputs of kind task_grad), combined with the active gradient method
/// into one gradient per parameter, as the runtime does after each step
/// (runtime/strategy/RunStrategy.cpp; the step lists each parameter's task
/// gradients in the spec's task order); `ms` receives the combine's time.
std::map<std::string, HostTensor>
combineParamGrads(const kg::Function &fn, const std::vector<HostTensor> &out,
                  double *ms = nullptr) {
  std::map<std::string, std::vector<std::pair<std::string, size_t>>> byParam;
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    if (fn.outputs[i].kind == kg::ArgKind::TaskGrad)
      byParam[fn.outputs[i].name].emplace_back(fn.outputs[i].task, i);
  std::map<std::string, HostTensor> combined;
  std::vector<std::vector<const float *>> blocks;
  std::vector<int64_t> sizes;
  std::vector<float *> outs;
  for (auto &[name, grads] : byParam) {
    HostTensor &c = combined[name];
    c.shape = out[grads[0].second].shape;
    c.f32.assign(out[grads[0].second].f32.size(), 0.0f);
    std::vector<const float *> ptrs;
    for (auto &[task, i] : grads)
      ptrs.push_back(out[i].f32.data());
    blocks.push_back(ptrs);
    sizes.push_back(static_cast<int64_t>(c.f32.size()));
    outs.push_back(c.f32.data());
  }
  auto start = std::chrono::steady_clock::now();
  if (rt::strategy::TaskStrategy *s = rt::strategy::activeStrategy())
    s->combineBlocks(blocks, sizes, outs);
  if (ms)
    *ms = std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - start)
              .count();
  return combined;
}

/// Builds and compiles a variant and runs it once: its outputs and its
/// static figures. Timing comes later, interleaved with the others.
Result prepare(const Variant &variant, const spec::Spec &spec,
               const Tensors &args, const Tensors *reference, Tensors &outputs,
               kg::Function &fn, std::vector<HostTensor> &in) {
  Result r;
  r.name = variant.name;
  fn = buildTrainStep(spec, variant.fusion, variant.gradient, variant.on);
  if (fn.name.empty()) {
    r.error = "build failed";
    return r;
  }
  if (variant.direct)
    kg::markDirectConvs(fn);
  for (const kg::Arg &a : fn.args) {
    auto it = args.find({a.kind, a.name});
    if (it != args.end()) {
      in.push_back(it->second);
    } else if (a.kind == kg::ArgKind::LossWeights) {
      // A strategy variant's run-time loss weights: every task weight 1.
      HostTensor w;
      w.shape = fn.values[a.value].shape;
      w.f32.assign(w.shape.empty() ? 1 : w.shape[0], 1.0f);
      in.push_back(w);
    } else {
      r.error = "argument '" + a.name + "' has no data";
      return r;
    }
  }
  std::vector<HostTensor> out;
  // The first call compiles the pipeline (cached for the timed calls).
  std::vector<double> ms;
  r.error = codegen::benchmark(fn, in, 1, out, ms, variant.schedule);
  if (!r.error.empty())
    return r;
  r.gflopPerStep = codegen::functionFlops(fn) / 1e9;
  r.kernels = fn.nodes.size();
  codegen::MemoryPlan plan = codegen::planMemory(fn);
  r.peakMB = plan.arenaBytes / 1048576.0;
  r.naiveMB = plan.naiveBytes / 1048576.0;
  for (size_t i = 0; i < fn.outputs.size(); ++i)
    outputs[{fn.outputs[i].kind, fn.outputs[i].name}] = out[i];
  if (variant.on == "param") // the optimizer's gradients, as a run has them
    for (auto &[name, g] : combineParamGrads(fn, out))
      outputs[{kg::ArgKind::Grad, name}] = g;
  if (reference) {
    std::map<kg::ArgKind, double> largest;
    for (auto &[key, ref] : *reference)
      largest[key.first] = std::max(largest[key.first], maxAbs(ref));
    for (auto &[key, ref] : *reference) {
      double d = relDiff(outputs.at(key), ref, largest[key.first]);
      if (d > r.maxRelDiff) {
        r.maxRelDiff = d;
        r.worst = std::string(kg::toString(key.first)) + " " + key.second;
      }
    }
  }
  if (!variant.gradient.empty()) // different by design: shows it acted
    r.worst += " (the method changes the gradients)";
  return r;
}

/// While a task-join variant runs, its joins call the runtime's combine
/// with the variant's gradient method, as in `./model train`; without one
/// they sum (a plain join).
class ActiveMethod {
public:
  ActiveMethod(const Variant &v, const spec::Spec &spec) {
    if (v.gradient.empty())
      return;
    rt::StrategySpec config;
    config.gradient = v.gradient;
    config.on = v.on;
    config.cagradC = spec.strategy.cagradC;
    strategy = std::make_unique<rt::strategy::TaskStrategy>(
        config, std::vector<double>(spec.tasks.size(), 1.0),
        rt::OptimizerConfig(), /*seed=*/1);
    strategy->beginStep(0);
    rt::strategy::setActiveStrategy(strategy.get());
  }
  ~ActiveMethod() {
    if (strategy)
      rt::strategy::setActiveStrategy(nullptr);
  }

private:
  std::unique_ptr<rt::strategy::TaskStrategy> strategy;
};

} // namespace

int explore(const ExploreOptions &options) {
  // The runtime's callback of the task joins (linked into mtlc).
  codegen::setJitTaskGradCombiner(&mtl_rt_combine_task_grads);
  // The variants' temporary buffers reused from the heap, as in the model
  // binary (runtime/Heap.h).
  rt::keepBuffersInHeap();
  DiagnosticEngine diags;
  std::optional<spec::Spec> spec = parseSpecFile(options.spec, diags);
  if (!spec)
    return 1;
  std::vector<Variant> all =
      variants(options.autoschedulers, options.gradients, hasSavedState(*spec));
  // The all-off build is the reference: run it first.
  std::rotate(all.begin(), all.end() - 1, all.end());
  kg::Function probe = buildTrainStep(*spec, all.front().fusion);
  if (probe.name.empty())
    return 1;
  Tensors args = randomArgs(probe);
  double peak = measurePeakGflops(options.threads);

  std::vector<Result> results;
  std::vector<kg::Function> fns(all.size());
  std::vector<std::vector<HostTensor>> inputs(all.size());
  Tensors reference;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!options.json)
      std::fprintf(stderr, "mtlc explore: building %s ...\n",
                   all[i].name.c_str());
    Tensors outputs;
    ActiveMethod method(all[i], *spec);
    results.push_back(prepare(all[i], *spec, args,
                              i == 0 ? nullptr : &reference, outputs, fns[i],
                              inputs[i]));
    if (i == 0)
      reference = outputs;
  }
  // Timed in rounds over the variants, so that drift in the machine's speed
  // (clock, other load) is spread over all of them alike.
  const int rounds = 5;
  std::vector<std::vector<double>> times(all.size());
  for (int round = 0; round < rounds; ++round)
    for (size_t i = 0; i < all.size(); ++i) {
      if (!results[i].error.empty())
        continue;
      std::vector<HostTensor> out;
      std::vector<double> ms;
      int steps = std::max(1, (options.steps + rounds - 1) / rounds);
      ActiveMethod method(all[i], *spec);
      results[i].error = codegen::benchmark(fns[i], inputs[i], steps, out, ms,
                                            all[i].schedule);
      if (all[i].on == "param" && results[i].error.empty())
        for (double &t : ms) { // each step's combine after it
          double combineMs = 0;
          combineParamGrads(fns[i], out, &combineMs);
          t += combineMs;
        }
      times[i].insert(times[i].end(), ms.begin(), ms.end());
    }
  for (size_t i = 0; i < all.size(); ++i) {
    Result &r = results[i];
    if (!r.error.empty() || times[i].empty())
      continue;
    std::sort(times[i].begin(), times[i].end());
    r.msPerStep = times[i][times[i].size() / 2];
    r.gflops = r.gflopPerStep / (r.msPerStep / 1e3);
  }

  if (options.json) {
    nlohmann::json j;
    j["spec"] = options.spec;
    j["peak_gflops"] = peak;
    j["threads"] = options.threads;
    j["steps_per_variant"] =
        rounds * std::max(1, (options.steps + rounds - 1) / rounds);
    for (const Result &r : results)
      j["variants"].push_back(
          {{"name", r.name},
           {"schedule", all[&r - results.data()].schedule.empty()
                            ? "heuristic"
                            : all[&r - results.data()].schedule},
           {"gradient_method", all[&r - results.data()].gradient},
           {"ms_per_step", r.msPerStep},
           {"gflop_per_step", r.gflopPerStep},
           {"gflops", r.gflops},
           {"percent_of_peak", 100 * r.gflops / peak},
           {"kernels", r.kernels},
           {"peak_mb", r.peakMB},
           {"naive_mb", r.naiveMB},
           {"max_rel_diff", r.maxRelDiff},
           {"max_rel_diff_at", r.worst},
           {"error", r.error}});
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s: train step, batch %lld, median of %d steps per variant "
                "(%d interleaved rounds); measured FMA peak %.0f GFLOP/s (%d "
                "threads)\n",
                options.spec.c_str(), (long long)spec->train.batch,
                rounds * std::max(1, (options.steps + rounds - 1) / rounds),
                rounds, peak, options.threads);
    std::printf("%-16s %9s %8s %7s %8s %10s %14s  %s\n", "variant", "ms/step",
                "GFLOP/s", "% peak", "kernels", "peak MB", "max rel diff",
                "(at)");
    for (const Result &r : results) {
      if (!r.error.empty()) {
        std::printf("%-16s error: %s\n", r.name.c_str(), r.error.c_str());
        continue;
      }
      std::printf("%-16s %9.2f %8.1f %6.1f%% %8zu %10.1f %14.2e  %s\n",
                  r.name.c_str(), r.msPerStep, r.gflops, 100 * r.gflops / peak,
                  r.kernels, r.peakMB, r.maxRelDiff, r.worst.c_str());
    }
    const Result &off = results.front(), &on = results[1];
    if (off.error.empty() && on.error.empty())
      std::printf("all fusions vs all off: %.2fx\n",
                  off.msPerStep / on.msPerStep);
  }
  bool ok = std::all_of(results.begin(), results.end(),
                        [](const Result &r) { return r.error.empty(); });
  return ok ? 0 : 1;
}

} // namespace mtl
