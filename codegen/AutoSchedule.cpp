//===- AutoSchedule.cpp - Halide's autoschedulers as a schedule option ---===//
#include "codegen/AutoSchedule.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#ifndef MTLC_HALIDE_PLUGIN_DIR
#define MTLC_HALIDE_PLUGIN_DIR "/usr/lib/x86_64-linux-gnu/halide14"
#endif

namespace mtl::codegen {

using namespace Halide;
using Internal::Dim;
using Internal::DimType;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Loads the plugin that registers autoscheduler `name`, once per process.
void loadPlugin(const std::string &name) {
  static std::mutex mu;
  static std::set<std::string> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded.count(name))
    return;
  std::string path = std::string(MTLC_HALIDE_PLUGIN_DIR) + "/libautoschedule_" +
                     lower(name) + ".so";
  if (access(path.c_str(), R_OK) != 0)
    throw LoweringError{"error: the Halide autoscheduler '" + name +
                        "' is not installed (" + path +
                        " is missing; Debian's libhalide14-0 ships it)"};
  load_plugin(path);
  loaded.insert(name);
}

/// The loop type of every dim name a stage's current schedule knows, the
/// names its splits replaced included (they inherit from their children).
std::map<std::string, DimType>
dimTypes(const Internal::StageSchedule &schedule) {
  std::map<std::string, DimType> types;
  for (const Dim &d : schedule.dims())
    types[d.var] = d.dim_type;
  const std::vector<Internal::Split> &splits = schedule.splits();
  for (auto it = splits.rbegin(); it != splits.rend(); ++it) {
    auto child = types.find(it->inner);
    if (child == types.end())
      child = types.find(it->outer);
    if (child != types.end() && !types.count(it->old_var))
      types[it->old_var] = child->second;
  }
  return types;
}

void resetStage(Internal::Definition &def, std::vector<Dim> dims) {
  dims.push_back({Var::outermost().name(), Internal::ForType::Serial,
                  DeviceAPI::None, DimType::PureVar});
  Internal::StageSchedule &s = def.schedule();
  s.splits().clear();
  s.dims() = std::move(dims);
  s.prefetches().clear();
  s.fuse_level() = FuseLoopLevel();
  s.fused_pairs().clear();
  s.allow_race_conditions() = false;
  s.atomic() = false;
  s.override_atomic_associativity_test() = false;
  s.touched() = false;
  def.specializations().clear();
}

void stripFunction(Internal::Function f) {
  // Outputs too: lowering realizes them at the root whatever they say, and
  // the autoschedulers reject any compute level but the default.
  Internal::FuncSchedule &fs = f.schedule();
  fs.store_level() = LoopLevel::inlined();
  fs.compute_level() = LoopLevel::inlined();
  fs.bounds().clear();
  fs.wrappers().clear();
  fs.memory_type() = MemoryType::Auto;
  fs.memoized() = false;
  fs.async() = false;
  fs.storage_dims().clear();
  for (const std::string &a : f.args())
    fs.storage_dims().push_back({a, Expr(), Expr(), Expr(), true});
  if (f.has_pure_definition()) {
    std::vector<Dim> dims;
    for (const std::string &a : f.args())
      dims.push_back(
          {a, Internal::ForType::Serial, DeviceAPI::None, DimType::PureVar});
    resetStage(f.definition(), dims);
  }
  for (size_t u = 0; u < f.updates().size(); ++u) {
    Internal::Definition &def = f.update(static_cast<int>(u));
    std::map<std::string, DimType> types = dimTypes(def.schedule());
    std::vector<Dim> dims;
    // Halide's default update loop nest: the reduction variables innermost
    // (in RDom order), then the pure variables the update keeps.
    for (const Internal::ReductionVariable &rv : def.schedule().rvars()) {
      auto t = types.find(rv.var);
      DimType type = t != types.end() && t->second == DimType::PureRVar
                         ? DimType::PureRVar
                         : DimType::ImpureRVar;
      dims.push_back(
          {rv.var, Internal::ForType::Serial, DeviceAPI::None, type});
    }
    for (size_t i = 0; i < def.args().size() && i < f.args().size(); ++i) {
      const auto *v = def.args()[i].as<Internal::Variable>();
      if (v && !v->param.defined() && !v->reduction_domain.defined() &&
          v->name == f.args()[i])
        dims.push_back({v->name, Internal::ForType::Serial, DeviceAPI::None,
                        DimType::PureVar});
    }
    resetStage(def, dims);
  }
}

/// Mullapudi2016 warns once per stage it cannot vectorize in its innermost
/// loop (hundreds of lines per build): shown with MTL_HALIDE_WARNINGS=1.
/// Errors still become exceptions, as with Halide's default reporter.
class QuietWarnings : public CompileTimeErrorReporter {
public:
  void warning(const char *msg) override {
    if (std::getenv("MTL_HALIDE_WARNINGS"))
      std::fputs(msg, stderr);
  }
  void error(const char *msg) override { throw CompileError(msg); }
};

Region estimates(const std::vector<int64_t> &shape) {
  Region r;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i)
    r.push_back({0, hdim(shape, i)});
  return r;
}

} // namespace

std::string autoschedulerFor(const std::string &schedule, bool gpu) {
  std::string s = lower(schedule);
  if (s.empty() || s == "heuristic" || s == "manual")
    return "";
  if (s == "auto")
    return gpu ? "Li2018" : "Mullapudi2016";
  if (s == "mullapudi2016")
    return "Mullapudi2016";
  if (s == "li2018") {
    // Measured: on x86 its rfactor'd reductions become atomic predicated
    // stores, which Halide 14's CPU backend rejects.
    if (!gpu)
      throw LoweringError{"error: schedule 'li2018' is for GPU targets "
                          "(Halide 14 cannot compile its CPU schedules); "
                          "use auto or mullapudi2016 on the CPU"};
    return "Li2018";
  }
  throw LoweringError{"error: unknown schedule '" + schedule +
                      "' (expected heuristic, auto, mullapudi2016 or li2018)"};
}

void stripSchedules(LoweredFunction &lf) {
  std::vector<Internal::Function> outs;
  for (Func &f : lf.outputs)
    outs.push_back(f.function());
  for (auto &[name, f] : Internal::build_environment(outs))
    if (!f.has_extern_definition()) // an extern stage has no loops to reset
      stripFunction(f);
}

void autoSchedule(LoweredFunction &lf, const kg::Function &fn,
                  const Target &target, const std::string &name) {
  static QuietWarnings reporter;
  static std::once_flag once;
  std::call_once(once,
                 [] { set_custom_compile_time_error_reporter(&reporter); });
  loadPlugin(name);
  stripSchedules(lf);
  for (size_t k = 0; k < lf.params.size() && k < fn.args.size(); ++k)
    lf.params[k].set_estimates(estimates(fn.values[fn.args[k].value].shape));
  for (size_t k = 0; k < lf.outputs.size() && k < fn.outputs.size(); ++k)
    lf.outputs[k].set_estimates(
        estimates(fn.values[fn.outputs[k].value].shape));
  // Parallelism: the cores the binary will run on (this machine's); cache:
  // the per-core L2 times the cores (the autoscheduler tiles for it); the
  // load/compute balance is Halide's generic default.
  int cores = std::max(1u, std::thread::hardware_concurrency());
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  uint64_t llc = l2 > 0 ? uint64_t(l2) * cores : uint64_t(16) << 20;
  MachineParams params(target.has_gpu_feature() ? 80 : cores, llc, 40);
  // Not known to be reentrant: one pipeline at a time (it is fast).
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  lf.pipeline.auto_schedule(name, target, params);
}

} // namespace mtl::codegen
