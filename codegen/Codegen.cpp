//===- Codegen.cpp - AOT compile step functions + one Halide runtime -----===//
//
// Every pipeline is compiled with `no_runtime`; the binary gets exactly one
// runtime from compile_standalone_runtime (several copies would clash).
//
//===----------------------------------------------------------------------===//
#include "codegen/Codegen.h"
#include "codegen/AutoSchedule.h"
#include "codegen/Driver.h"
#include "codegen/Isa.h"
#include "codegen/Lowering.h"
#include "codegen/Segments.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

using namespace Halide;

namespace mtl::codegen {

std::string resolveTarget(const CodegenOptions &options) {
  std::string out;
  std::string err = guardedCall([&] {
    out = chooseTarget(options.target, options.halideTarget).to_string();
  });
  return err.empty() ? out : "error: " + err;
}

std::string checkIsaList(const std::string &isas) {
  return guardedCall([&] { parseIsaList(isas); });
}

std::string compileFunctions(const std::vector<kg::Function> &given,
                             const CodegenOptions &options,
                             std::vector<std::string> &outFiles) {
  std::vector<kg::Function> direct;
  if (!options.winograd) {
    direct = given;
    for (kg::Function &fn : direct)
      kg::markDirectConvs(fn);
  }
  const std::vector<kg::Function> &functions =
      options.winograd ? given : direct;
  Target target;
  std::string autoscheduler;
  std::vector<Target> isaTargets; // --isa: one per listed instruction set
  std::vector<std::string> isaNames;
  std::string err = guardedCall([&] {
    target = chooseTarget(options.target, options.halideTarget);
    autoscheduler =
        autoschedulerFor(options.schedule, target.has_gpu_feature());
    if (!options.isas.empty()) {
      if (options.target != "cpu" || !options.halideTarget.empty())
        throw LoweringError{"--isa applies to the CPU target without "
                            "--halide-target"};
      isaNames = parseIsaList(options.isas); // most capable first
      for (const std::string &n : isaNames)
        isaTargets.push_back(isaTarget(n).with_feature(Target::NoRuntime));
      // The runtime (thread pool, CPU feature checks) runs everywhere the
      // least capable variant does.
      target = isaTargets.back().without_feature(Target::NoRuntime);
    }
  });
  if (!err.empty())
    return err;
  // Absolute: Halide's multi-target archive step changes the process's
  // working directory while it runs (below), under the other jobs' feet.
  const std::string dir =
      std::filesystem::absolute(options.outDir.empty() ? "." : options.outDir)
          .lexically_normal()
          .string();
  // On the CPU every step function becomes small pipelines plus an entry
  // point (Segments.h); a GPU step stays one pipeline, so tensors never
  // leave the device between kernels.
  const bool segmented = !target.has_gpu_feature();
  struct Job {
    std::string label;
    std::function<void()> run;
  };
  std::vector<Job> jobs;
  std::vector<std::string> objects;
  std::vector<std::string> archives; // linked after the objects
  auto compileOne = [&](const kg::Function &fn, const std::string &cname) {
    std::string prefix = dir + "/" + cname;
    std::map<OutputFileType, std::string> files;
    if (options.emitStmt) {
      files[OutputFileType::stmt_html] = prefix + ".stmt.html";
      files[OutputFileType::stmt] = prefix + ".stmt";
    }
    if (isaTargets.size() > 1) {
      // One variant per instruction set, each lowered with its own register
      // tiles (Isa.h), and Halide's wrapper `cname` choosing among them at
      // the first call; Halide writes them as one archive.
      files[OutputFileType::static_library] = prefix + ".a";
      std::vector<std::string> suffixes;
      for (const std::string &n : isaNames)
        suffixes.push_back(n);
      // One at a time: Halide writes the archive from inside its temporary
      // folder (a chdir there and back); two at once left the process in a
      // deleted folder, and a relative path of a third job resolved inside
      // it (e2e_isa failed so, rarely).
      static std::mutex archiveMutex;
      std::lock_guard<std::mutex> lock(archiveMutex);
      compile_multitarget(
          cname, files, isaTargets, suffixes,
          [&](const std::string &name, const Target &t) {
            LoweredFunction lf = lowerFunction(fn, t, autoscheduler);
            return lf.pipeline.compile_to_module(lf.arguments(), name, t);
          });
      return;
    }
    const Target t = isaTargets.empty() ? target : isaTargets[0];
    LoweredFunction lf = lowerFunction(fn, t, autoscheduler);
    files[OutputFileType::object] = prefix + ".o";
    lf.pipeline.compile_to(files, lf.arguments(), cname,
                           t.with_feature(Target::NoRuntime));
  };
  // Where compileOne leaves function `cname`'s code.
  auto addOutput = [&](const std::string &cname) {
    if (isaTargets.size() > 1)
      archives.push_back(dir + "/" + cname + ".a");
    else
      objects.push_back(dir + "/" + cname + ".o");
  };
  std::vector<SegmentedFunction> split(functions.size());
  for (size_t f = 0; f < functions.size(); ++f) {
    const kg::Function &fn = functions[f];
    const std::string cname = "mtl_" + sanitize(fn.name);
    if (!segmented) {
      jobs.push_back({fn.name, [&, cname] { compileOne(fn, cname); }});
      addOutput(cname);
      continue;
    }
    split[f] =
        segmentFunction(fn, options.inlineSegments, options.mergeSmallSegments);
    const SegmentedFunction &sf = split[f];
    for (size_t k = 0; k < sf.segments.size(); ++k) {
      std::string sub = cname + "_s" + std::to_string(k);
      jobs.push_back({fn.name + " " + sf.segments[k].label,
                      [&, k, sub] { compileOne(sf.segments[k].fn, sub); }});
      addOutput(sub);
    }
    jobs.push_back(
        {fn.name + " entry point", [&, cname, f] {
           std::string src = dir + "/" + cname + ".cpp";
           std::ofstream(src)
               << segmentedEntrySource(functions[f], split[f], cname);
           std::string e = detail::runCommand(
               detail::compiler(LinkOptions{}) +
                   " -std=c++17 -O2 -fPIC -c -I/usr/include/halide14 " +
                   detail::shellQuote(src) + " -o " +
                   detail::shellQuote(dir + "/" + cname + ".o"),
               false, dir + "/" + cname + ".log");
           if (!e.empty())
             throw LoweringError{"entry point of " + functions[f].name + ": " +
                                 e};
         }});
    objects.push_back(dir + "/" + cname + ".o");
  }
  jobs.push_back(
      {"halide runtime",
       [&] { compile_standalone_runtime(dir + "/halide_runtime.o", target); }});
  objects.push_back(dir + "/halide_runtime.o");

  std::vector<std::string> errors(jobs.size());
  std::vector<double> seconds(jobs.size(), 0.0);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k; (k = next++) < jobs.size();) {
      auto start = std::chrono::steady_clock::now();
      errors[k] = guardedCall(jobs[k].run);
      seconds[k] = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    }
  };
  unsigned threads =
      options.jobs > 0 ? options.jobs : std::thread::hardware_concurrency();
  threads = std::max(1u, std::min<unsigned>(threads, jobs.size()));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
  for (size_t k = 0; k < jobs.size(); ++k)
    if (!errors[k].empty())
      return errors[k];
  if (options.verbose) {
    // The slowest compiles, then a total per step function.
    std::vector<size_t> order(jobs.size());
    for (size_t k = 0; k < order.size(); ++k)
      order[k] = k;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return seconds[a] > seconds[b]; });
    for (size_t i = 0; i < std::min<size_t>(order.size(), 8); ++i)
      std::fprintf(stderr, "mtlc:   compiled %-48s %6.2f s\n",
                   jobs[order[i]].label.substr(0, 48).c_str(),
                   seconds[order[i]]);
    double total = 0;
    for (double t : seconds)
      total += t;
    std::fprintf(stderr,
                 "mtlc:   %zu pipelines, %.1f s of compile time on %u "
                 "threads\n",
                 jobs.size(), total, threads);
  }
  if (options.emitStmt && segmented) {
    // One readable file per step function: its segments in order.
    for (size_t f = 0; f < functions.size(); ++f) {
      const std::string cname = "mtl_" + sanitize(functions[f].name);
      std::ofstream all(dir + "/" + cname + ".stmt");
      all << "// " << functions[f].name << ": " << split[f].segments.size()
          << " pipelines run in order (one per kernel; codegen/Segments.h)"
          << (isaTargets.size() > 1 ? ", their " + isaNames[0] + " variants"
                                    : std::string())
          << "\n";
      for (size_t k = 0; k < split[f].segments.size(); ++k) {
        std::string sub = dir + "/" + cname + "_s" + std::to_string(k);
        all << "\n// ---- segment " << k << ": " << split[f].segments[k].label
            << "\n"
            << std::ifstream(isaTargets.size() > 1
                                 ? sub + "-" + isaNames[0] + ".stmt"
                                 : sub + ".stmt")
                   .rdbuf();
      }
    }
  }
  outFiles.insert(outFiles.end(), objects.begin(), objects.end());
  outFiles.insert(outFiles.end(), archives.begin(), archives.end());
  return "";
}

} // namespace mtl::codegen
