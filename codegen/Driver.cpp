//===- Driver.cpp - Model descriptor, driver source, link ----------------===//
#include "codegen/Driver.h"
#include "codegen/Flops.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#ifndef MTLC_RUNTIME_LIB
#define MTLC_RUNTIME_LIB ""
#endif
#ifndef MTLC_SOURCE_DIR
#define MTLC_SOURCE_DIR "."
#endif

namespace mtl::codegen {
namespace {

using nlohmann::json;

json argJson(const kg::Function &fn, const kg::Arg &a) {
  const kg::Value &v = fn.values.at(a.value);
  json j{{"kind", kg::toString(a.kind)},
         {"name", a.name},
         {"shape", v.shape},
         {"dtype", kg::toString(v.dtype)}};
  if (!a.task.empty())
    j["task"] = a.task;
  return j;
}

/// The init the IR gives (he_normal, zeros, ...), with the fans from the HWIO
/// / [K, M] shape; without one, he-normal for weights and zeros for rank-1
/// params (biases).
json paramJson(const std::string &name, const std::vector<int64_t> &s,
               const std::string &init) {
  json p{{"name", name}, {"shape", s}};
  int64_t fanIn = 0, fanOut = 0;
  if (s.size() == 4) {
    fanIn = s[0] * s[1] * s[2];
    fanOut = s[0] * s[1] * s[3];
  } else if (s.size() == 2) {
    fanIn = s[0];
    fanOut = s[1];
  }
  p["init"] = !init.empty() ? init : s.size() <= 1 ? "zeros" : "he_normal";
  p["fan_in"] = fanIn;
  p["fan_out"] = fanOut;
  return p;
}

const kg::Function *paramSource(const std::vector<kg::Function> &fns) {
  for (const kg::Function &f : fns)
    if (f.name == "train_step")
      return &f;
  for (const kg::Function &f : fns)
    for (const kg::Arg &a : f.args)
      if (a.kind == kg::ArgKind::Param)
        return &f;
  return nullptr;
}

} // namespace

std::string detail::cString(const std::string &s) {
  std::string out = "\"";
  size_t col = 0;
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
    }
    if (++col % 100 == 0)
      out += "\"\n    \"";
  }
  return out + "\"";
}

std::string detail::shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string detail::sanitizeId(const std::string &s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string detail::compiler(const LinkOptions &options) {
  if (!options.cxx.empty())
    return options.cxx;
  const char *env = std::getenv("CXX");
  return env && *env ? env : "c++";
}

std::string detail::runtimeLibrary(const LinkOptions &options) {
  return options.runtimeLib.empty() ? MTLC_RUNTIME_LIB : options.runtimeLib;
}

std::string detail::includeDirectory(const LinkOptions &options) {
  return options.includeDir.empty() ? MTLC_SOURCE_DIR : options.includeDir;
}

std::string detail::runCommand(const std::string &cmd, bool verbose,
                               const std::string &logPath) {
  if (verbose)
    std::fprintf(stderr, "%s\n", cmd.c_str());
  int rc = std::system((cmd + " > " + shellQuote(logPath) + " 2>&1").c_str());
  std::string log;
  {
    std::ifstream in(logPath);
    std::stringstream ss;
    ss << in.rdbuf();
    log = ss.str();
  }
  std::remove(logPath.c_str());
  return rc == 0 ? "" : "command failed (" + cmd + "):\n" + log;
}

std::string modelDescriptor(const spec::Spec &spec,
                            const std::vector<kg::Function> &functions) {
  json d;
  d["version"] = 1;
  d["model"] = spec.name;
  d["spec"] = spec.file;
  d["batch"] = spec.train.batch;
  d["input"] = {{"name", spec.input.name}, {"shape", spec.input.shape}};
  const spec::Data &data = spec.data;
  json dataJ = {{"source", data.format},
                {"dir", data.dir.empty()
                            ? std::string("/usr/share/datasets/fashion-mnist")
                            : data.dir},
                {"limit_train", data.limitTrain},
                {"limit_test", data.limitTest},
                {"validation", data.validation},
                {"seed", data.seed}};
  if (data.format == "csv") {
    dataJ["train_file"] = data.trainFile;
    dataJ["test_file"] = data.testFile;
    dataJ["label_column"] = data.labelColumn;
  } else {
    dataJ["train_images"] = data.trainImages;
    dataJ["train_labels"] = data.trainLabels;
    dataJ["test_images"] = data.testImages;
    dataJ["test_labels"] = data.testLabels;
  }
  if (data.scale > 0)
    dataJ["scale"] = data.scale;
  const spec::Augment &aug = data.augment;
  if (aug.shift > 0 || aug.flip || aug.noise > 0 || aug.rotate > 0)
    dataJ["augment"] = {{"shift", aug.shift},
                        {"flip", aug.flip},
                        {"noise", aug.noise},
                        {"rotate", aug.rotate}};
  d["data"] = dataJ;

  json tasks = json::array();
  for (const spec::Task &t : spec.tasks) {
    std::vector<int64_t> predShape;
    for (const kg::Function &f : functions)
      for (const kg::Arg &o : f.outputs)
        if (o.kind == kg::ArgKind::Prediction && o.name == t.name &&
            predShape.empty()) {
          const auto &s = f.values.at(o.value).shape;
          predShape.assign(s.begin() + (s.empty() ? 0 : 1), s.end());
        }
    tasks.push_back({{"name", t.name},
                     {"loss", t.loss},
                     {"weight", t.weight},
                     {"target", t.target},
                     {"target_map", t.targetMap},
                     {"metrics", t.metrics},
                     {"label_fraction", t.labelFraction},
                     {"prediction_shape", predShape}});
  }
  d["tasks"] = tasks;

  json params = json::array();
  if (const kg::Function *src = paramSource(functions))
    for (const kg::Arg &a : src->args)
      if (a.kind == kg::ArgKind::Param)
        params.push_back(
            paramJson(a.name, src->values.at(a.value).shape, a.init));
  d["params"] = params;

  // Non-trained tensors (running statistics): any pipeline may read them.
  json states = json::array();
  std::set<std::string> seen;
  for (const kg::Function &f : functions)
    for (const kg::Arg &a : f.args)
      if (a.kind == kg::ArgKind::State && seen.insert(a.name).second)
        states.push_back({{"name", a.name},
                          {"shape", f.values.at(a.value).shape},
                          {"init", a.init.empty() ? "zeros" : a.init}});
  d["states"] = states;

  const spec::Train &tr = spec.train;
  d["train"] = {{"optimizer", tr.optimizer},
                {"lr", tr.lr},
                {"warmup", tr.warmup},
                {"lr_schedule", tr.lrSchedule},
                {"min_lr", tr.minLr},
                {"step_epochs", tr.stepEpochs},
                {"gamma", tr.gamma},
                {"momentum", tr.momentum},
                {"beta1", tr.beta1},
                {"beta2", tr.beta2},
                {"eps", tr.eps},
                {"weight_decay", tr.weightDecay},
                {"epochs", tr.epochs},
                {"seed", tr.seed}};

  const spec::Strategy &st = spec.strategy;
  d["strategy"] = {{"weighting", st.weighting},
                   {"gradient", st.gradient},
                   {"on", st.on},
                   {"dwa_temperature", st.dwaTemperature},
                   {"gradnorm_alpha", st.gradnormAlpha},
                   {"cagrad_c", st.cagradC}};

  json pipes = json::object();
  for (const kg::Function &f : functions) {
    json args = json::array(), outs = json::array();
    for (const kg::Arg &a : f.args)
      args.push_back(argJson(f, a));
    for (const kg::Arg &a : f.outputs)
      outs.push_back(argJson(f, a));
    pipes[f.name] = {
        {"args", args}, {"outputs", outs}, {"flops", functionFlops(f)}};
  }
  d["pipelines"] = pipes;
  return d.dump(2);
}

std::string compiledModelSource(const spec::Spec &spec,
                                const std::vector<kg::Function> &functions) {
  using namespace detail;
  std::ostringstream os;
  os << "// Generated by mtlc for model '" << spec.name
     << "'. Do not edit.\n"
        "#include \"runtime/CompiledModel.h\"\n\n"
        "extern \"C\" {\n";
  for (const kg::Function &f : functions) {
    std::string c = "mtl_" + sanitizeId(f.name);
    os << "int " << c << "_argv(void **args);\n"
       << "const struct halide_filter_metadata_t *" << c << "_metadata();\n";
  }
  os << "}\n\nnamespace {\nconst char kDescriptor[] =\n    "
     << cString(modelDescriptor(spec, functions)) << ";\n\n"
     << "const mtl::rt::PipelineEntry kPipelines[] = {\n";
  for (const kg::Function &f : functions) {
    std::string c = "mtl_" + sanitizeId(f.name);
    os << "    {\"" << f.name << "\", " << c << "_argv, " << c
       << "_metadata},\n";
  }
  if (functions.empty())
    os << "    {nullptr, nullptr, nullptr},\n";
  os << "};\n"
     << "const mtl::rt::CompiledModel kModel{kDescriptor, kPipelines, "
     << functions.size() << "};\n} // namespace\n";
  return os.str();
}

std::string driverSource(const spec::Spec &spec,
                         const std::vector<kg::Function> &functions) {
  return compiledModelSource(spec, functions) +
         "\nint main(int argc, char **argv) {\n"
         "  return mtl::rt::main(kModel, argc, argv);\n}\n";
}

std::string emitAndLinkBinary(const spec::Spec &spec,
                              const std::vector<kg::Function> &functions,
                              const std::vector<std::string> &objectFiles,
                              const std::string &outputPath,
                              const LinkOptions &options) {
  using namespace detail;
  std::string src;
  try {
    src = driverSource(spec, functions);
  } catch (const std::exception &e) {
    return std::string("driver: ") + e.what();
  }
  std::string driverPath = outputPath + ".driver.cpp";
  {
    std::ofstream out(driverPath);
    out << src;
    if (!out)
      return "driver: cannot write " + driverPath;
  }
  std::string runtimeLib = runtimeLibrary(options);
  if (runtimeLib.empty())
    return "driver: no runtime library (set LinkOptions::runtimeLib)";
  std::string cmd = compiler(options) + " -std=c++17 -O1 -I" +
                    shellQuote(includeDirectory(options)) + " " +
                    shellQuote(driverPath);
  for (const std::string &o : objectFiles)
    cmd += " " + shellQuote(o);
  cmd += " " + shellQuote(runtimeLib);
  for (const std::string &a : options.extraArgs)
    cmd += " " + a;
  cmd += " -lfmt -lz -lpthread -ldl -o " + shellQuote(outputPath);
  std::string err = runCommand(cmd, options.verbose, outputPath + ".link.log");
  if (!options.keepTemps)
    std::remove(driverPath.c_str());
  return err;
}

} // namespace mtl::codegen
