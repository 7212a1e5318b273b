//===- kernels.cpp - Per-kernel time of a spec's train step ---------------===//
//
//   mtl-bench-kernels SPEC [--threads 1,2] [--rounds N] [--json] ...
//
// Lowers the spec's train step to the kernel graph exactly as `mtlc build`
// does (same passes, same fusion flags), cuts it into its kernels (on the
// CPU the build's segments, codegen/Segments.h; for CUDA one node with the
// elementwise nodes mtl-fuse-epilogue folds into it), and times each kernel
// as a one-kernel JIT pipeline with the same shapes, attributes and
// schedules (codegen::benchmark, the code path of `mtlc explore`).
//
// Halide's thread pool reads HL_NUM_THREADS once per process, so every
// thread count runs in a child process of its own (this program re-executed
// with --worker); the parent merges their JSON and prints one table, sorted
// by the single-thread time, with the FMA peak measured in the same run.
//
//===----------------------------------------------------------------------===//
#include "bench/BlasBaseline.h"
#include "codegen/Evaluate.h"
#include "codegen/Flops.h"
#include "codegen/Segments.h"
#include "frontend/MLIRGen.h"
#include "frontend/SpecParser.h"
#include "passes/LowerToKernelGraph.h"
#include "passes/Passes.h"
#include "runtime/Heap.h"
#include "test/gpu/GpuEval.h"
#include "tools/mtlc/PeakBandwidth.h"
#include "tools/mtlc/PeakFlops.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using mtl::codegen::HostTensor;
using json = nlohmann::json;

struct Options {
  std::string spec;
  std::vector<int> threads{1, 2};
  double minMs = 150;  // timed wall time per kernel and thread count
  int minCalls = 5;    // at least this many timed calls
  int maxCalls = 2000; // and at most this many
  int rounds = 1;      // kernels timed round-robin this many times
  bool heavyOnly = false;
  bool step = true; // also time the whole train step
  bool json = false;
  int top = 0; // print only the slowest `top` kernels (0: all)
  std::string opFilter;
  mtl::FusionOptions fusion;
  bool inlineSegments = true; // --no-fuse-inline
  bool mergeSmall = true;     // --no-merge-small
  bool winograd = true;       // --no-winograd
  std::string target = "cpu"; // cpu | cuda (one run on the GPU)
  std::string isa;            // "" = the host's; avx512 | avx2 | sse41
  bool blas = true;           // --no-blas: no OpenBLAS baseline
  int worker = 0; // internal: run as the worker for this thread count
};

/// The spec's train step, built as `mtlc build` builds it.
mtl::kg::Function trainStep(const Options &o) {
  mtl::DiagnosticEngine diags;
  std::optional<mtl::spec::Spec> spec = mtl::parseSpecFile(o.spec, diags);
  if (!spec)
    return {};
  mlir::MLIRContext ctx;
  mlir::ScopedDiagnosticHandler handler(&ctx, [](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      std::fprintf(stderr, "mtl-bench-kernels: error: %s\n", d.str().c_str());
    return mlir::success();
  });
  auto module = mtl::mlirGen(ctx, *spec);
  if (!module)
    return {};
  mlir::PassManager pm(&ctx);
  mtl::buildTrainingPipeline(pm, o.fusion);
  if (mlir::failed(pm.run(*module)))
    return {};
  auto fn = mtl::lowerToKernelGraph(
      module->lookupSymbol<mlir::func::FuncOp>("train_step"),
      mtl::StepKind::Train, "train_step");
  if (mlir::failed(fn))
    return mtl::kg::Function();
  if (!o.winograd)
    mtl::kg::markDirectConvs(*fn);
  return *fn;
}

/// One kernel: a node and the epilogue nodes fused into it.
struct Kernel {
  std::vector<int> nodes; // indices into fn.nodes; [0] is the producer
  mtl::kg::Function sub;  // the one-kernel function
  double flops = 0;
  double bytes = 0; // compulsory traffic: every argument read once, every
                    // output written once
  std::string op, shapes, where, outputs;
};

std::string shapeStr(const std::vector<int64_t> &s) {
  if (s.empty())
    return "scalar";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

double elements(const std::vector<int64_t> &s) {
  double n = 1;
  for (int64_t e : s)
    n *= double(e);
  return n;
}

/// Bytes a kernel must move at least: its arguments read once, its outputs
/// written once.
double compulsoryBytes(const mtl::kg::Function &sub) {
  double b = 0;
  for (const mtl::kg::Arg &a : sub.args)
    b += double(mtl::kg::byteSize(sub.values[a.value]));
  for (const mtl::kg::Arg &a : sub.outputs)
    b += double(mtl::kg::byteSize(sub.values[a.value]));
  return b;
}

/// The epilogue chains codegen forms (codegen/Lowering.cpp, lowerFunction):
/// a node marked `mtl.fused_epilogue` whose first input is the only use of
/// a conv2d / dense / conv_transpose2d result (or of the previous link).
/// The one-kernel function repeats the chain, and lowerFunction decides
/// again, on the same conditions, to fuse it.
std::vector<Kernel> cutKernels(const mtl::kg::Function &fn) {
  const int nv = int(fn.values.size()), nn = int(fn.nodes.size());
  std::vector<std::vector<int>> readers(nv);
  std::vector<int> outputUses(nv, 0), defNode(nv, -1);
  for (int k = 0; k < nn; ++k) {
    for (int in : fn.nodes[k].inputs)
      readers[in].push_back(k);
    defNode[fn.nodes[k].result] = k;
  }
  for (const mtl::kg::Arg &o : fn.outputs)
    ++outputUses[o.value];
  static const std::set<std::string> producers = {"conv2d", "dense",
                                                  "conv_transpose2d"};
  std::vector<bool> taken(nn, false);
  std::vector<Kernel> kernels;
  for (int k = 0; k < nn; ++k) {
    if (taken[k])
      continue;
    Kernel kern;
    kern.nodes.push_back(k);
    if (producers.count(fn.nodes[k].op)) {
      int cur = fn.nodes[k].result;
      while (outputUses[cur] == 0 && readers[cur].size() == 1) {
        const mtl::kg::Node &c = fn.nodes[readers[cur].front()];
        if (!c.ints.count("mtl.fused_epilogue") || c.inputs.empty() ||
            c.inputs[0] != cur ||
            fn.values[c.result].shape != fn.values[cur].shape)
          break;
        bool ready = true;
        for (size_t q = 1; q < c.inputs.size(); ++q)
          ready = ready && defNode[c.inputs[q]] < k;
        if (!ready)
          break;
        kern.nodes.push_back(readers[cur].front());
        cur = c.result;
      }
    }
    for (int n : kern.nodes)
      taken[n] = true;

    // The one-kernel function: external inputs become arguments, the last
    // link's result the output.
    mtl::kg::Function &sub = kern.sub;
    sub.name = "kernel_n" + std::to_string(fn.nodes[k].result);
    std::map<int, int> remap;
    auto valueOf = [&](int id) {
      auto it = remap.find(id);
      if (it != remap.end())
        return it->second;
      int nid = int(sub.values.size());
      sub.values.push_back(fn.values[id]);
      remap[id] = nid;
      return nid;
    };
    std::set<int> internal;
    for (int n : kern.nodes)
      internal.insert(fn.nodes[n].result);
    std::string ins;
    for (int n : kern.nodes)
      for (int in : fn.nodes[n].inputs)
        if (!internal.count(in) && !remap.count(in)) {
          int id = valueOf(in);
          sub.args.push_back({mtl::kg::ArgKind::Input,
                              "in" + std::to_string(sub.args.size()), id, ""});
          ins += (ins.empty() ? "" : ", ") + shapeStr(fn.values[in].shape);
        }
    for (int n : kern.nodes) {
      mtl::kg::Node node = fn.nodes[n];
      for (int &in : node.inputs)
        in = valueOf(in);
      node.result = valueOf(node.result);
      sub.nodes.push_back(node);
    }
    int last = fn.nodes[kern.nodes.back()].result;
    sub.outputs.push_back(
        {mtl::kg::ArgKind::Prediction, "out", remap[last], ""});

    kern.op = fn.nodes[k].op;
    for (size_t q = 1; q < kern.nodes.size(); ++q)
      kern.op += "+" + fn.nodes[kern.nodes[q]].op;
    kern.shapes = ins + " -> " + shapeStr(fn.values[last].shape);
    kern.where = fn.nodes[k].loc;
    for (const mtl::kg::Arg &o : fn.outputs)
      if (o.value == last)
        kern.outputs += (kern.outputs.empty() ? "" : ",") +
                        std::string(mtl::kg::toString(o.kind)) + " " + o.name;
    for (int n : kern.nodes)
      kern.flops += mtl::codegen::nodeFlops(fn, fn.nodes[n]);
    kern.bytes = compulsoryBytes(kern.sub);
    kernels.push_back(std::move(kern));
  }
  return kernels;
}

/// The kernels of a CPU build: its segments, exactly as `mtlc build`
/// compiles them (codegen/Segments.h: a node with its fused epilogues, a
/// loss group, a batch norm's gradients with the pool gradient and the
/// batch norm computed inline in them, ...). The producer ([0] in nodes) is
/// the first node not computed inline.
std::vector<Kernel> segmentKernels(const mtl::kg::Function &fn, bool inlining,
                                   bool mergeSmall) {
  std::vector<int> defNode(fn.values.size(), -1);
  for (size_t k = 0; k < fn.nodes.size(); ++k)
    defNode[fn.nodes[k].result] = int(k);
  std::vector<Kernel> kernels;
  for (mtl::codegen::Segment &seg :
       mtl::codegen::segmentFunction(fn, inlining, mergeSmall).segments) {
    Kernel kern;
    for (const mtl::kg::Node &n : seg.fn.nodes)
      if (!n.ints.count("mtl.inline"))
        kern.nodes.push_back(defNode[n.result]);
    for (const mtl::kg::Node &n : seg.fn.nodes)
      if (n.ints.count("mtl.inline"))
        kern.nodes.push_back(defNode[n.result]);
    const mtl::kg::Node &front = fn.nodes[kern.nodes.front()];
    kern.sub = std::move(seg.fn);
    kern.sub.name = "kernel_n" + std::to_string(front.result);
    kern.op = seg.label.substr(seg.label.find(' ') + 1);
    std::string ins, outs;
    for (const mtl::kg::Arg &a : kern.sub.args)
      ins += (ins.empty() ? "" : ", ") + shapeStr(fn.values[a.value].shape);
    for (const mtl::kg::Arg &a : kern.sub.outputs)
      outs += (outs.empty() ? "" : ", ") + shapeStr(fn.values[a.value].shape);
    kern.shapes = ins + " -> " + outs;
    kern.where = front.loc;
    for (const mtl::kg::Arg &o : fn.outputs)
      if (std::count(seg.outs.begin(), seg.outs.end(), o.value))
        kern.outputs += (kern.outputs.empty() ? "" : ",") +
                        std::string(mtl::kg::toString(o.kind)) + " " + o.name;
    kern.flops = seg.flops;
    kern.bytes = compulsoryBytes(kern.sub);
    kernels.push_back(std::move(kern));
  }
  return kernels;
}

bool isProduct(const std::string &op) {
  return op.rfind("conv", 0) == 0 || op.rfind("dense", 0) == 0 ||
         op.rfind("lstm", 0) == 0 || op.rfind("gru", 0) == 0;
}

/// Kernels worth timing with --heavy-only: those with a product, or a node
/// of at least 256 K output elements.
bool isHeavy(const mtl::kg::Function &fn, const Kernel &k) {
  for (int i : k.nodes) {
    const mtl::kg::Node &n = fn.nodes[i];
    if (isProduct(n.op) || elements(fn.values[n.result].shape) >= 262144)
      return true;
  }
  return false;
}

std::vector<HostTensor> randomArgs(const mtl::kg::Function &sub,
                                   std::mt19937 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<HostTensor> args;
  for (const mtl::kg::Arg &a : sub.args) {
    const mtl::kg::Value &v = sub.values[a.value];
    HostTensor t;
    t.shape = v.shape;
    size_t n = size_t(elements(v.shape));
    if (v.dtype != mtl::kg::DType::F32) // class ids of any task, positions
      for (size_t i = 0; i < n; ++i)    // in any pool's window (argmax)
        t.i32.push_back(int32_t(rng() % 4));
    else
      for (size_t i = 0; i < n; ++i)
        t.f32.push_back(uniform(rng));
    args.push_back(std::move(t));
  }
  return args;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// ms per call of `calls` calls: CPU (codegen::benchmark, Halide's thread
/// pool) or GPU (inputs on the device, a device sync after each call).
std::string runCalls(const Options &o, const mtl::kg::Function &fn,
                     const std::vector<HostTensor> &args, int calls,
                     std::vector<double> &ms) {
  if (o.target == "cuda")
    return mtl::gputest::benchmarkCuda(fn, args, calls, ms);
  std::vector<HostTensor> out;
  return mtl::codegen::benchmark(fn, args, calls, out, ms, "", o.isa);
}

/// Compiles `fn` (one untimed call: compile, first touch) and estimates how
/// many calls make ~minMs of wall time.
std::string prepare(const mtl::kg::Function &fn,
                    const std::vector<HostTensor> &args, const Options &o,
                    int &calls, double &compileS) {
  std::vector<double> t;
  auto start = std::chrono::steady_clock::now();
  std::string err = runCalls(o, fn, args, 1, t);
  compileS =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count() -
      (t.empty() ? 0 : t[0] / 1e3);
  if (!err.empty())
    return err;
  std::vector<double> probe;
  err = runCalls(o, fn, args, 3, probe);
  double est = std::max(median(probe), 1e-3);
  calls = std::clamp(int(o.minMs / est), o.minCalls, o.maxCalls);
  return err;
}

/// Median ms of `fn` on `args` over `calls` calls, after `prepare`.
std::string timeIt(const mtl::kg::Function &fn,
                   const std::vector<HostTensor> &args, const Options &o,
                   double &ms, int &calls, double &compileS) {
  std::string err = prepare(fn, args, o, calls, compileS);
  if (!err.empty())
    return err;
  std::vector<double> t;
  err = runCalls(o, fn, args, calls, t);
  ms = median(t);
  return err;
}

/// The worker: HL_NUM_THREADS is already `o.worker` in its environment.
int worker(const Options &o) {
  mtl::kg::Function fn = trainStep(o);
  if (fn.name.empty())
    return 1;
  std::vector<Kernel> kernels =
      o.target == "cuda" ? cutKernels(fn)
                         : segmentKernels(fn, o.inlineSegments, o.mergeSmall);
  json j;
  j["threads"] = o.worker;
  if (o.target == "cuda") {
    std::string what;
    j["peak_gflops"] = mtl::gputest::cudaPeakGflops(what);
    j["device"] = what;
  } else {
    j["peak_gflops"] = mtl::measurePeakGflops(o.worker, 0.3, o.isa);
    j["bandwidth_gbs"] = mtl::measureBandwidthGBs(o.worker, 0.3);
  }
  // The GEMM kernels' baseline: OpenBLAS on the same shapes and threads.
  mtl::bench::Blas blas;
  bool haveBlas = false;
  if (o.target == "cpu" && o.blas) {
    std::string why;
    haveBlas = blas.load(why);
    if (haveBlas) {
      blas.setThreads(o.worker);
      j["blas"] = blas.describe();
    } else {
      j["blas_error"] = why;
    }
  }
  std::mt19937 rng(1234);
  const bool tty = isatty(2);
  // Compile every selected kernel first, then time them round-robin
  // (--rounds): on a VM whose speed drifts over seconds (a neighbour's
  // load), each kernel then sees the same mix of fast and slow moments.
  struct Timed {
    size_t index;
    std::vector<HostTensor> args;
    int calls = 0;
    double compileS = 0;
    std::string err;
    std::vector<double> ms;
    mtl::bench::Blas::Operands blasOps; // its GEMMs (none: not a GEMM)
    std::vector<double> blasMs;
  };
  std::vector<Timed> timed;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Kernel &k = kernels[i];
    if (o.heavyOnly && !isHeavy(fn, k))
      continue;
    if (!o.opFilter.empty() && k.op.find(o.opFilter) == std::string::npos)
      continue;
    Timed t{i, randomArgs(k.sub, rng)};
    t.err = prepare(k.sub, t.args, o, t.calls, t.compileS);
    // At least 2 per round: then codegen::benchmark leaves the call that
    // pays the fresh outputs' page faults untimed.
    t.calls = std::max(2, t.calls / o.rounds);
    std::vector<mtl::bench::Gemm> gemms = mtl::bench::kernelGemms(k.sub);
    if (haveBlas && !gemms.empty()) {
      t.blasOps = mtl::bench::Blas::operands(gemms, unsigned(i));
      blas.time(t.blasOps, 2); // BLAS's threads, first touch of C
    }
    timed.push_back(std::move(t));
    if (tty)
      std::fprintf(stderr, "\r  %d thread(s): compiled kernel %zu/%zu",
                   o.worker, i + 1, kernels.size());
  }
  for (int round = 0; round < o.rounds; ++round)
    for (size_t n = 0; n < timed.size(); ++n) {
      Timed &t = timed[n];
      std::vector<double> ms;
      if (t.err.empty())
        t.err = runCalls(o, kernels[t.index].sub, t.args, t.calls, ms);
      t.ms.insert(t.ms.end(), ms.begin(), ms.end());
      if (!t.blasOps.gemms.empty()) {
        std::vector<double> b = blas.time(t.blasOps, t.calls);
        t.blasMs.insert(t.blasMs.end(), b.begin(), b.end());
      }
      if (tty)
        std::fprintf(stderr, "\r  %d thread(s): round %d/%d, kernel %zu/%zu  ",
                     o.worker, round + 1, o.rounds, n + 1, timed.size());
    }
  if (tty)
    std::fprintf(stderr, "\n");
  for (const Timed &t : timed) {
    j["compile_s"] = j.value("compile_s", 0.0) + t.compileS;
    j["kernels"].push_back(
        {{"index", t.index},
         {"ms", median(t.ms)},
         {"best_ms",
          t.ms.empty() ? 0.0 : *std::min_element(t.ms.begin(), t.ms.end())},
         {"calls", int(t.ms.size())},
         {"compile_s", t.compileS},
         {"error", t.err},
         {"blas_ms", median(t.blasMs)}});
  }
  // The FMA peak again after the kernels: the higher of the two (a
  // neighbour's burst during one measurement would inflate every %).
  if (o.target != "cuda") {
    j["peak_gflops"] = std::max(j["peak_gflops"].get<double>(),
                                mtl::measurePeakGflops(o.worker, 0.3, o.isa));
    j["bandwidth_gbs"] = std::max(j["bandwidth_gbs"].get<double>(),
                                  mtl::measureBandwidthGBs(o.worker, 0.3));
  }
  if (o.step) {
    // The whole step in one pipeline, for the sum-of-kernels comparison.
    double ms = 0, compileS = 0;
    int calls = 0;
    std::string err = timeIt(fn, randomArgs(fn, rng), o, ms, calls, compileS);
    j["step"] = {
        {"ms", ms}, {"calls", calls}, {"compile_s", compileS}, {"error", err}};
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

std::string shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Runs this program as the worker for `threads`; its JSON, or null.
json runWorker(const std::string &self, const std::vector<std::string> &argv,
               int threads) {
  std::string cmd =
      "HL_NUM_THREADS=" + std::to_string(threads) + " " + shellQuote(self);
  for (const std::string &a : argv)
    cmd += " " + shellQuote(a);
  cmd += " --worker " + std::to_string(threads);
  FILE *p = popen(cmd.c_str(), "r");
  if (!p)
    return nullptr;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    text.append(buf, n);
  int rc = pclose(p);
  if (rc != 0)
    return nullptr;
  return json::parse(text, nullptr, false);
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"mtl-bench-kernels: time every kernel of a spec's train step "
               "(one-kernel JIT pipelines, same shapes and schedules as "
               "mtlc build) on 1 and 2 threads, against the measured FMA "
               "peak"};
  // Kernels' temporary buffers reused from the heap, not mmap'ed and
  // faulted in per call: as in the model binary (runtime/Heap.h).
  mtl::rt::keepBuffersInHeap();
  Options o;
  std::string threads = "1,2";
  app.add_option("spec", o.spec, "model spec (.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--threads", threads,
                 "comma-separated thread counts, each in its own process");
  app.add_option("--min-ms", o.minMs,
                 "timed wall time per kernel and thread count (ms)");
  app.add_option("--min-calls", o.minCalls, "at least this many timed calls");
  app.add_option("--rounds", o.rounds,
                 "time the kernels round-robin this many times (the median "
                 "and best over all rounds' calls; for a VM whose speed "
                 "drifts)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--heavy-only", o.heavyOnly,
               "only conv/dense/recurrent kernels and elementwise ones of "
               ">= 256K elements");
  app.add_option("--op", o.opFilter,
                 "only kernels whose op contains this string");
  app.add_flag("!--no-step", o.step,
               "do not time the whole train step for comparison");
  app.add_option("--top", o.top, "print only the N slowest kernels");
  app.add_flag("--json", o.json, "print JSON for scripts");
  app.add_flag("!--no-fuse-heads", o.fusion.heads, "as mtlc build");
  app.add_flag("!--no-fuse-join", o.fusion.join, "as mtlc build");
  app.add_flag("!--no-fuse-epilogue", o.fusion.epilogue, "as mtlc build");
  app.add_flag("!--no-fuse-losses", o.fusion.losses, "as mtlc build");
  app.add_flag("!--no-fuse-inline", o.inlineSegments, "as mtlc build");
  app.add_flag("!--no-merge-small", o.mergeSmall, "as mtlc build");
  app.add_flag("!--recompute-states", o.fusion.saveStates, "as mtlc build");
  app.add_flag("!--no-winograd", o.winograd, "as mtlc build");
  app.add_option("--target", o.target,
                 "cpu (Halide's thread pool, one run per --threads) or cuda "
                 "(the CUDA schedules, one run on the GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--isa", o.isa,
                 "compile the kernels for this CPU instruction set, with its "
                 "register tiles (as mtlc build --isa), and measure its peak")
      ->check(CLI::IsMember({"avx512", "avx2", "sse41"}));
  app.add_flag("!--no-blas", o.blas,
               "do not time the GEMM kernels' shapes in OpenBLAS's sgemm "
               "(libopenblas.so.0; MTL_BLAS_LIB overrides)");
  app.add_option("--worker", o.worker)->group(""); // internal
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  if (o.worker > 0)
    return worker(o);

  o.threads.clear();
  std::stringstream ss(threads);
  for (std::string t; std::getline(ss, t, ',');)
    if (!t.empty() && std::atoi(t.c_str()) > 0)
      o.threads.push_back(std::atoi(t.c_str()));
  if (o.target == "cuda") {
    std::string why;
    if (!mtl::gputest::cudaAvailable(why)) {
      std::fprintf(stderr, "mtl-bench-kernels: error: --target=cuda: %s\n",
                   why.c_str());
      return 1;
    }
    o.threads = {1}; // one run; the column says "gpu"
  }
  if (o.threads.empty()) {
    std::fprintf(stderr, "mtl-bench-kernels: error: bad --threads '%s'\n",
                 threads.c_str());
    return 2;
  }

  mtl::kg::Function fn = trainStep(o);
  if (fn.name.empty())
    return 1;
  std::vector<Kernel> kernels =
      o.target == "cuda" ? cutKernels(fn)
                         : segmentKernels(fn, o.inlineSegments, o.mergeSmall);

  // Re-run this program as a worker per thread count, with the same options.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string self = "/proc/self/exe";
  {
    char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    if (len > 0)
      self.assign(path, size_t(len));
  }
  std::vector<json> runs;
  for (int t : o.threads) {
    if (!o.json)
      std::fprintf(stderr,
                   "mtl-bench-kernels: timing %zu kernels on %d "
                   "thread(s) ...\n",
                   kernels.size(), t);
    json r = runWorker(self, args, t);
    if (r.is_null() || !r.is_object()) {
      std::fprintf(
          stderr, "mtl-bench-kernels: error: the %d-thread worker failed\n", t);
      return 1;
    }
    runs.push_back(r);
  }

  // Merge: per kernel, ms per thread count.
  struct Row {
    size_t index;
    std::vector<double> ms, best, blas; // blas: 0 when not timed
    std::string error;
  };
  std::map<size_t, Row> rows;
  for (size_t r = 0; r < runs.size(); ++r)
    for (const json &k : runs[r]["kernels"]) {
      size_t i = k["index"].get<size_t>();
      Row &row = rows[i];
      row.index = i;
      row.ms.resize(runs.size(), 0);
      row.best.resize(runs.size(), 0);
      row.blas.resize(runs.size(), 0);
      row.blas[r] = k.value("blas_ms", 0.0);
      row.ms[r] = k["ms"].get<double>();
      row.best[r] = k.value("best_ms", 0.0);
      if (!k["error"].get<std::string>().empty())
        row.error = k["error"].get<std::string>();
    }
  std::vector<Row> sorted;
  for (auto &[i, row] : rows)
    sorted.push_back(row);
  std::stable_sort(
      sorted.begin(), sorted.end(),
      [](const Row &a, const Row &b) { return a.ms[0] > b.ms[0]; });
  std::vector<double> peak, bandwidth, total(runs.size(), 0);
  for (const json &r : runs) {
    peak.push_back(r["peak_gflops"].get<double>());
    bandwidth.push_back(r.value("bandwidth_gbs", 0.0));
  }
  // The roofline: the least time a kernel can take, its FLOPs at the FMA
  // peak or its compulsory bytes at the copy bandwidth, whichever is longer.
  // %roof = that bound over the measured time; "m" marks the kernels the
  // bandwidth bounds, for which %peak cannot reach 100.
  auto roofMs = [&](const Kernel &k, size_t r) {
    double c = peak[r] > 0 ? k.flops / 1e6 / peak[r] : 0;
    double m = bandwidth[r] > 0 ? k.bytes / 1e6 / bandwidth[r] : 0;
    return std::max(c, m);
  };
  auto memoryBound = [&](const Kernel &k, size_t r) {
    return bandwidth[r] > 0 && peak[r] > 0 &&
           k.bytes / bandwidth[r] > k.flops / peak[r];
  };
  double totalFlops = 0;
  for (const Row &row : sorted) {
    totalFlops += kernels[row.index].flops;
    for (size_t r = 0; r < runs.size(); ++r)
      total[r] += row.ms[r];
  }
  double stepFlops = mtl::codegen::functionFlops(fn);

  if (o.json) {
    json j;
    j["spec"] = o.spec;
    j["kernels_in_step"] = kernels.size();
    j["target"] = o.target;
    j["step_gflop"] = stepFlops / 1e9;
    for (size_t r = 0; r < runs.size(); ++r) {
      json t = {{"threads", o.threads[r]},
                {"peak_gflops", peak[r]},
                {"bandwidth_gbs", bandwidth[r]},
                {"sum_of_kernels_ms", total[r]}};
      if (runs[r].contains("step"))
        t["step"] = runs[r]["step"];
      if (runs[r].contains("blas"))
        t["blas"] = runs[r]["blas"];
      j["runs"].push_back(t);
    }
    for (const Row &row : sorted) {
      const Kernel &k = kernels[row.index];
      json e = {{"node", k.sub.name},      {"op", k.op},
                {"shapes", k.shapes},      {"loc", k.where},
                {"outputs", k.outputs},    {"gflop", k.flops / 1e9},
                {"mbytes", k.bytes / 1e6}, {"error", row.error}};
      for (size_t r = 0; r < runs.size(); ++r) {
        double g = row.ms[r] > 0 ? k.flops / 1e6 / row.ms[r] : 0;
        double gb = row.best[r] > 0 ? k.flops / 1e6 / row.best[r] : 0;
        e["by_threads"].push_back(
            {{"threads", o.threads[r]},
             {"ms", row.ms[r]},
             {"gflops", g},
             {"percent_of_peak", peak[r] > 0 ? 100 * g / peak[r] : 0.0},
             {"best_ms", row.best[r]},
             {"best_percent_of_peak", peak[r] > 0 ? 100 * gb / peak[r] : 0.0},
             {"roofline_ms", roofMs(k, r)},
             {"percent_of_roofline",
              row.ms[r] > 0 ? 100 * roofMs(k, r) / row.ms[r] : 0.0},
             {"bound", memoryBound(k, r) ? "memory" : "compute"},
             {"blas_ms", row.blas[r]}});
      }
      j["kernels"].push_back(e);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("%s: train step, %zu kernels, %.3f GFLOP per step; "
              "one-kernel JIT pipelines, median per kernel over %d "
              "round(s) (best%%: the fastest call)\n",
              o.spec.c_str(), kernels.size(), stepFlops / 1e9, o.rounds);
  const bool gpu = o.target == "cuda";
  if (!gpu && o.winograd)
    std::printf("GFLOP: a conv's direct multiply-adds; the 3x3 stride-1 "
                "convs computed by Winograd do 1/4 (F(4x4)) or 1/2.25 "
                "(F(2x2)) of them, a one-channel conv over an upsample "
                "by 2 (merged taps per output phase) and its grad-input "
                "with the upsample's gradient 1/2.25, a grad-filter over "
                "an upsample 1/4, and a first layer's batch statistics "
                "from its patches' moments none, so their GFLOP/s can pass "
                "the peak (--no-winograd: direct convs)\n");
  auto label = [&](size_t r) {
    return gpu ? std::string("gpu") : std::to_string(o.threads[r]);
  };
  for (size_t r = 0; r < runs.size(); ++r)
    if (gpu)
      std::printf("GPU fp32 peak: %.0f GFLOP/s (%s; JIT compile of the "
                  "kernels: %.1f s)\n",
                  peak[r], runs[r].value("device", std::string()).c_str(),
                  runs[r].value("compile_s", 0.0));
    else
      std::printf("measured FMA peak on %d thread(s): %.1f GFLOP/s, copy "
                  "bandwidth %.1f GB/s (JIT compile of the kernels: %.1f s)\n",
                  o.threads[r], peak[r], bandwidth[r],
                  runs[r].value("compile_s", 0.0));
  std::printf("%-4s %-10s %-34s %8s", "#", "node", "op", "GFLOP");
  for (size_t r = 0; r < runs.size(); ++r)
    std::printf(" %8s %7s %6s %6s%s", ("ms@" + label(r)).c_str(), "GFLOP/s",
                "%peak", "best%", gpu ? "" : "  %roof");
  std::printf("  shapes  [loc]\n");
  int rank = 0;
  for (const Row &row : sorted) {
    if (o.top > 0 && rank >= o.top)
      break;
    ++rank;
    const Kernel &k = kernels[row.index];
    std::string op = k.op.size() > 34 ? k.op.substr(0, 31) + "..." : k.op;
    std::printf("%-4d %-10s %-34s %8.4f", rank, k.sub.name.substr(7).c_str(),
                op.c_str(), k.flops / 1e9);
    for (size_t r = 0; r < runs.size(); ++r) {
      double g = row.ms[r] > 0 ? k.flops / 1e6 / row.ms[r] : 0;
      double gb = row.best[r] > 0 ? k.flops / 1e6 / row.best[r] : 0;
      std::printf(" %8.3f %7.1f %5.1f%% %5.1f%%", row.ms[r], g,
                  peak[r] > 0 ? 100 * g / peak[r] : 0.0,
                  peak[r] > 0 ? 100 * gb / peak[r] : 0.0);
      if (!gpu)
        std::printf(" %5.1f%%%s",
                    row.ms[r] > 0 ? 100 * roofMs(k, r) / row.ms[r] : 0.0,
                    memoryBound(k, r) ? "m" : " ");
    }
    std::printf("  %s", k.shapes.c_str());
    if (!k.where.empty())
      std::printf("  [%s]", k.where.c_str());
    if (!row.error.empty())
      std::printf("  ERROR: %s", row.error.c_str());
    std::printf("\n");
  }
  std::printf("%-4s %-10s %-34s %8.4f", "", "total", "(sum of kernels timed)",
              totalFlops / 1e9);
  for (size_t r = 0; r < runs.size(); ++r) {
    double g = total[r] > 0 ? totalFlops / 1e6 / total[r] : 0;
    std::printf(" %8.2f %7.1f %5.1f%% %6s%s", total[r], g,
                peak[r] > 0 ? 100 * g / peak[r] : 0.0, "",
                gpu ? "" : "        ");
  }
  std::printf("\n");
  for (size_t r = 0; r < runs.size(); ++r)
    if (runs[r].contains("step")) {
      const json &s = runs[r]["step"];
      if (!s["error"].get<std::string>().empty())
        std::printf("whole step on %s: error: %s\n",
                    gpu ? "the GPU" : (label(r) + " thread(s)").c_str(),
                    s["error"].get<std::string>().c_str());
      else
        std::printf("whole train step (one pipeline) on %s: %.2f ms "
                    "(%.1f GFLOP/s, %.1f%% of peak; JIT compile %.1f s)\n",
                    gpu ? "the GPU" : (label(r) + " thread(s)").c_str(),
                    s["ms"].get<double>(),
                    stepFlops / 1e6 / s["ms"].get<double>(),
                    100 * stepFlops / 1e6 / s["ms"].get<double>() / peak[r],
                    s.value("compile_s", 0.0));
    }

  // The GEMM kernels against OpenBLAS, timed in the same rounds.
  auto inBlas = [](const Row &row) {
    return std::any_of(row.blas.begin(), row.blas.end(),
                       [](double b) { return b > 0; });
  };
  if (std::any_of(sorted.begin(), sorted.end(), inBlas)) {
    std::printf("\nGEMM kernels against OpenBLAS's sgemm on the same shapes "
                "and threads, timed in the same rounds (%s; its time "
                "without the epilogue and the bias; x BLAS: its time over "
                "ours, > 1 where mtlc is faster):\n",
                runs[0].value("blas", std::string("?")).c_str());
    std::printf("%-4s %-10s %-34s %8s", "#", "node", "op", "GFLOP");
    for (size_t r = 0; r < runs.size(); ++r)
      std::printf(" %8s %8s %7s %7s", ("ms@" + label(r)).c_str(),
                  ("BLAS@" + label(r)).c_str(), "BLAS%pk", "x BLAS");
    std::printf("\n");
    int n = 0;
    for (const Row &row : sorted) {
      if (!inBlas(row))
        continue;
      const Kernel &k = kernels[row.index];
      std::string op = k.op.size() > 34 ? k.op.substr(0, 31) + "..." : k.op;
      std::printf("%-4d %-10s %-34s %8.4f", ++n, k.sub.name.substr(7).c_str(),
                  op.c_str(), k.flops / 1e9);
      for (size_t r = 0; r < runs.size(); ++r) {
        double b = row.blas[r];
        double pk =
            b > 0 && peak[r] > 0 ? 100 * k.flops / 1e6 / b / peak[r] : 0.0;
        std::printf(" %8.3f %8.3f %6.1f%% %7.2f", row.ms[r], b, pk,
                    row.ms[r] > 0 ? b / row.ms[r] : 0.0);
      }
      std::printf("\n");
    }
  } else if (!gpu && o.blas && !runs.empty() &&
             runs[0].contains("blas_error")) {
    std::printf("\n(no OpenBLAS baseline: %s)\n",
                runs[0]["blas_error"].get<std::string>().c_str());
  }

  // The same time by op (the kernel's producer op), largest first.
  std::map<std::string, std::pair<std::vector<double>, double>> byOp;
  for (const Row &row : sorted) {
    const Kernel &k = kernels[row.index];
    auto &e = byOp[fn.nodes[k.nodes.front()].op];
    e.first.resize(runs.size(), 0);
    for (size_t r = 0; r < runs.size(); ++r)
      e.first[r] += row.ms[r];
    e.second += k.flops;
  }
  std::vector<std::pair<std::string, std::pair<std::vector<double>, double>>>
      ops(byOp.begin(), byOp.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto &a, const auto &b) {
    return a.second.first[0] > b.second.first[0];
  });
  std::printf("\nby op (sum over its kernels):\n%-34s %8s", "op", "GFLOP");
  for (size_t r = 0; r < runs.size(); ++r)
    std::printf(" %8s %7s %6s", ("ms@" + label(r)).c_str(), "GFLOP/s", "share");
  std::printf("\n");
  for (const auto &[op, e] : ops) {
    std::printf("%-34s %8.4f", op.c_str(), e.second / 1e9);
    for (size_t r = 0; r < runs.size(); ++r)
      std::printf(" %8.2f %7.1f %5.1f%%", e.first[r],
                  e.first[r] > 0 ? e.second / 1e6 / e.first[r] : 0.0,
                  total[r] > 0 ? 100 * e.first[r] / total[r] : 0.0);
    std::printf("\n");
  }

  bool ok = std::all_of(sorted.begin(), sorted.end(),
                        [](const Row &r) { return r.error.empty(); });
  return ok ? 0 : 1;
}
