//===- Main.cpp - The model binary's command line -------------------------===//
//
// `model train | eval | predict | bench | info`. Every failure the user can
// cause ends as `model: error: <message>` on stderr and a non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "runtime/Bench.h"
#include "runtime/CompiledModel.h"
#include "runtime/Error.h"
#include "runtime/Evaluator.h"
#include "runtime/Heap.h"
#include "runtime/IsaCap.h"
#include "runtime/Predictor.h"
#include "runtime/Trainer.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <sys/stat.h>

namespace mtl::rt {

namespace {

struct Flags {
  std::string checkpoint, dataDir, log;
  std::string weighting, gradient; // strategy overrides (train)
  int64_t epochs = 0, limitTrain = -1, limitTest = -1;
  double lr = 0.0;
  uint64_t seed = 0;
  bool seedSet = false, resume = false, quiet = false, json = false;
  bool keepBest = false;
  int64_t index = 0, count = 1, steps = 20, warmup = 3;
};

// CLI11's range validators print the type's whole range; these say it plainly.
CLI::Validator positive() {
  return CLI::Validator(
      [](std::string &s) {
        double v = 0;
        return CLI::detail::lexical_cast(s, v) && v > 0
                   ? std::string()
                   : "must be a positive number, got '" + s + "'";
      },
      "POSITIVE");
}

CLI::Validator nonNegative() {
  return CLI::Validator(
      [](std::string &s) {
        double v = 0;
        return CLI::detail::lexical_cast(s, v) && v >= 0
                   ? std::string()
                   : "must be a non-negative number, got '" + s + "'";
      },
      "NON-NEGATIVE");
}

bool fileExists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Flag, then MTL_DATA_DIR, then the descriptor's dir.
std::string dataDir(const Flags &flags) {
  if (!flags.dataDir.empty())
    return flags.dataDir;
  const char *env = std::getenv("MTL_DATA_DIR");
  return env ? env : "";
}

void loadCheckpointForInference(Model &model, const std::string &path,
                                const std::string &prog) {
  if (!fileExists(path))
    fail("no checkpoint at {}: run `{} train` first (or pass --checkpoint)",
         path, prog);
  model.restore(readCheckpoint(path), nullptr, path);
}

int cmdTrain(Model &model, const Flags &flags) {
  const Descriptor &d = model.desc();
  TrainOptions options;
  options.epochs = flags.epochs > 0 ? flags.epochs : d.train.epochs;
  options.lr = static_cast<float>(flags.lr > 0 ? flags.lr : d.train.lr);
  options.seed = flags.seedSet ? flags.seed : d.train.seed;
  options.checkpoint = flags.checkpoint;
  options.resume = flags.resume;
  options.keepBest = flags.keepBest;
  options.quiet = flags.quiet;
  options.log = flags.log;
  options.weighting = flags.weighting;
  options.gradient = flags.gradient;
  if (options.resume && !fileExists(options.checkpoint))
    fail("--resume: no checkpoint at {}", options.checkpoint);
  TrainingData data = loadTraining(d, dataDir(flags),
                                   flags.limitTrain >= 0 ? flags.limitTrain
                                                         : d.data.limitTrain);
  options.validation = &data.validation;
  if (!flags.quiet)
    fmt::print(
        "training {} on {} samples ({} batches of {}){}, {} epochs\n", d.model,
        data.train.size, data.train.size / d.batch, d.batch,
        data.validation.size
            ? fmt::format(", {} held out for validation", data.validation.size)
            : std::string(),
        options.epochs);
  train(model, data.train, options);
  if (!flags.quiet)
    fmt::print("checkpoint: {}\n", options.checkpoint);
  return 0;
}

int cmdEval(Model &model, const Flags &flags, const std::string &prog) {
  const Descriptor &d = model.desc();
  loadCheckpointForInference(model, flags.checkpoint, prog);
  Split data =
      loadSplit(d, dataDir(flags), false,
                flags.limitTest >= 0 ? flags.limitTest : d.data.limitTest);
  EvalResult r = evaluate(model, data);
  if (flags.json) {
    nlohmann::ordered_json j;
    j["model"] = d.model;
    j["samples"] = r.samples;
    j["tasks"] = nlohmann::ordered_json::object();
    for (const TaskMetrics &m : r.tasks)
      for (const auto &[name, value] : m.values())
        j["tasks"][m.spec().name][name] = value;
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("{}: {} test samples, checkpoint {}\n", d.model, r.samples,
             flags.checkpoint);
  for (const TaskMetrics &m : r.tasks) {
    std::string line =
        fmt::format("{:<16} loss {:.4f}", m.spec().name, m.loss());
    for (const std::string &metric : m.spec().metrics)
      line += fmt::format("  {} {:.4f}", metric, m.metric(metric));
    fmt::print("{}  ({} labelled samples)\n", line, m.rows());
  }
  return 0;
}

int cmdPredict(Model &model, const Flags &flags, const std::string &prog) {
  const Descriptor &d = model.desc();
  loadCheckpointForInference(model, flags.checkpoint, prog);
  Split data =
      loadSplit(d, dataDir(flags), false,
                flags.limitTest >= 0 ? flags.limitTest : d.data.limitTest);
  std::vector<Prediction> preds =
      predict(model, data, flags.index, flags.count);
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const Prediction &p : preds) {
    nlohmann::ordered_json j;
    j["index"] = p.index;
    j["label"] = p.label;
    std::string line = fmt::format("sample {} (label {}):", p.index, p.label);
    for (size_t t = 0; t < d.tasks.size(); ++t) {
      const TaskSpec &task = d.tasks[t];
      const std::vector<float> &row = p.tasks[t];
      nlohmann::ordered_json tj;
      if (task.isClassification()) {
        // Heads output logits: report the softmax probability of the argmax.
        int64_t cls = argmax(row.data(), static_cast<int64_t>(row.size()));
        double sum = 0.0;
        for (float v : row)
          sum += std::exp(double(v) - row[cls]);
        tj["class"] = cls;
        tj["probability"] = 1.0 / sum;
        line += fmt::format(" {} = {} ({:.2f})", task.name, cls, 1.0 / sum);
      } else if (row.size() <= 8) {
        tj["values"] = row;
        line += fmt::format(" {} = [{:.4f}]", task.name, fmt::join(row, ", "));
      } else if (task.target == "image" ||
                 (data.field(task.target) &&
                  data.field(task.target)->dtype == DType::F32)) {
        const float *image =
            task.target == "image"
                ? data.image(p.index)
                : &data.field(task.target)
                       ->floats[p.index * data.field(task.target)->rowSize()];
        double se = 0.0;
        for (size_t i = 0; i < row.size(); ++i) {
          double v =
              task.predictsLogits() ? 1.0 / (1.0 + std::exp(-row[i])) : row[i];
          se += (v - image[i]) * (v - image[i]);
        }
        tj["mse"] = se / row.size();
        line += fmt::format(" {} = reconstruction mse {:.6f}", task.name,
                            se / row.size());
      } else {
        tj["values"] = row;
        line += fmt::format(" {} = {} values", task.name, row.size());
      }
      j["tasks"][task.name] = tj;
    }
    all.push_back(j);
    if (!flags.json)
      fmt::print("{}\n", line);
  }
  if (flags.json)
    fmt::print("{}\n",
               nlohmann::ordered_json{{"model", d.model}, {"predictions", all}}
                   .dump());
  return 0;
}

int cmdBench(Model &model, const Flags &flags) {
  BenchResult r = benchTrainStep(model, flags.steps, flags.warmup,
                                 flags.seedSet ? flags.seed : 1);
  fmt::print("train_step: {:.3f} ms/step, {:.0f} samples/s (batch {}, {} "
             "threads)\n",
             r.medianMs, r.samplesPerSecond, r.batch, r.threads);
  fmt::print("  of which the optimizer update: {:.3f} ms (median)\n",
             r.updateMedianMs);
  return 0;
}

int cmdInfo(Model &model) {
  const Descriptor &d = model.desc();
  fmt::print("model {}{}\n", d.model,
             d.spec.empty() ? "" : fmt::format(" (from {})", d.spec));
  fmt::print("input {} {}, batch {}\n", d.inputName, toString(d.inputShape),
             d.batch);
  fmt::print("tasks:\n");
  for (const TaskSpec &t : d.tasks)
    fmt::print("  {:<12} {} (weight {}), target {}{}, prediction {}{}\n",
               t.name, t.loss, t.weight, t.target,
               t.targetMap.empty()
                   ? ""
                   : fmt::format(" mapped [{}]", fmt::join(t.targetMap, ",")),
               toString(t.predictionShape),
               t.metrics.empty()
                   ? ""
                   : fmt::format(", metrics {}", fmt::join(t.metrics, ", ")));
  fmt::print("params: {} tensors, {} values\n", d.params.size(),
             d.numParamElements());
  fmt::print("pipelines:");
  for (const auto &[name, p] : d.pipelines)
    if (!p.empty())
      fmt::print(" {} ({} args, {} outputs{})", name, p.args.size(),
                 p.outputs.size(),
                 model.hasPipeline(name) ? "" : ", not linked");
  std::string schedule;
  if (d.train.lrSchedule == "cosine")
    schedule = fmt::format(" (cosine to {})", d.train.minLr);
  else if (d.train.lrSchedule == "step")
    schedule = fmt::format(" (x{} every {} epochs)", d.train.gamma,
                           d.train.stepEpochs);
  if (d.train.warmup > 0)
    schedule += fmt::format(" warm-up {} steps", d.train.warmup);
  fmt::print("\ntrain: {} lr {}{} weight decay {}, {} epochs, seed {}\n",
             d.train.optimizer, d.train.lr, schedule, d.train.weightDecay,
             d.train.epochs, d.train.seed);
  fmt::print("data: {} from {} ({}, {}){}{}\n", d.data.source,
             d.data.dir.empty() ? "." : d.data.dir,
             d.data.source == "csv" ? d.data.trainFile : d.data.trainImages,
             d.data.source == "csv" ? d.data.testFile : d.data.testImages,
             d.data.validation > 0
                 ? fmt::format(", validation {}", d.data.validation)
                 : std::string(),
             d.data.augment.any() ? ", augmented" : "");
  return 0;
}

int run(const CompiledModel &compiled, int argc, char **argv,
        const std::string &prog) {
  Flags flags;
  flags.checkpoint = std::string(argc > 0 ? argv[0] : "model") + ".ckpt";
  CLI::App app("A multi-task model compiled by mtlc", prog);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show every subcommand's options");

  auto addCheckpoint = [&](CLI::App *cmd) {
    cmd->add_option("--checkpoint", flags.checkpoint, "Checkpoint file")
        ->capture_default_str();
  };
  auto addDataDir = [&](CLI::App *cmd) {
    cmd->add_option("--data-dir", flags.dataDir,
                    "Dataset directory (else $MTL_DATA_DIR, else the spec's)");
  };

  CLI::App *train = app.add_subcommand("train", "Train the model");
  train->add_option("--epochs", flags.epochs, "Total epochs")
      ->check(positive());
  train->add_option("--lr", flags.lr, "Learning rate")->check(positive());
  train->add_option_function<uint64_t>(
      "--seed",
      [&](const uint64_t &s) { flags.seed = s, flags.seedSet = true; },
      "Random seed (init and data order)");
  addCheckpoint(train);
  train->add_flag("--resume", flags.resume, "Continue from the checkpoint");
  train->add_flag("--keep-best", flags.keepBest,
                  "Also keep the epoch with the lowest validation loss in "
                  "CHECKPOINT.best (needs [data] validation)");
  addDataDir(train);
  train
      ->add_option("--limit-train", flags.limitTrain,
                   "Use the first N training samples (0 = all)")
      ->check(nonNegative());
  train->add_flag("--quiet", flags.quiet, "Print nothing but errors");
  train->add_option("--log", flags.log,
                    "Metrics log: JSON lines, one per step and per epoch");
  train
      ->add_option("--weighting", flags.weighting,
                   "Loss weighting instead of the spec's [strategy] one "
                   "(the binary must take run-time weights)")
      ->check(CLI::IsMember(
          {"equal", "static", "uncertainty", "dwa", "gradnorm", "rlw"}));
  train
      ->add_option("--gradient", flags.gradient,
                   "Gradient method instead of the spec's, at the same "
                   "place (rep or param) the binary was built for")
      ->check(CLI::IsMember({"none", "pcgrad", "mgda_ub", "cagrad", "imtl_g"}));

  CLI::App *eval = app.add_subcommand("eval", "Evaluate on the test set");
  eval->add_flag("--json", flags.json, "Print only a JSON object");
  addCheckpoint(eval);
  addDataDir(eval);
  eval->add_option("--limit-test", flags.limitTest,
                   "Use the first N test samples (0 = all)")
      ->check(nonNegative());

  CLI::App *pred = app.add_subcommand("predict", "Predict test samples");
  addCheckpoint(pred);
  addDataDir(pred);
  pred->add_option("--index", flags.index, "First test sample")
      ->check(nonNegative());
  pred->add_option("--count", flags.count, "Number of samples")
      ->check(positive());
  pred->add_flag("--json", flags.json, "Print only a JSON object");

  CLI::App *bench = app.add_subcommand("bench", "Time a training step");
  bench->add_option("--steps", flags.steps, "Timed steps")->check(positive());
  bench->add_option("--warmup", flags.warmup, "Untimed steps first")
      ->check(nonNegative());

  CLI::App *info = app.add_subcommand("info", "Describe the model");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e); // --help
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "{}: error: {}\n", prog, e.what());
    fmt::print(stderr, "run `{} --help` for usage\n", prog);
    return 2;
  }

  capIsaFromEnvironment(); // before the first kernel picks its variant
  Model model(compiled);
  if (*train)
    return cmdTrain(model, flags);
  if (*eval)
    return cmdEval(model, flags, prog);
  if (*pred)
    return cmdPredict(model, flags, prog);
  if (*bench)
    return cmdBench(model, flags);
  if (*info)
    return cmdInfo(model);
  return 2;
}

} // namespace

int main(const CompiledModel &compiled, int argc, char **argv) {
  keepBuffersInHeap();
  std::string prog = argc > 0 && argv[0] ? argv[0] : "model";
  prog = prog.substr(prog.rfind('/') + 1);
  try {
    return run(compiled, argc, argv, prog);
  } catch (const Error &e) {
    std::fflush(stdout);
    fmt::print(stderr, "{}: error: {}\n", prog, e.what());
  } catch (const std::bad_alloc &) {
    fmt::print(stderr, "{}: error: out of memory\n", prog);
  } catch (const std::exception &e) {
    fmt::print(stderr, "{}: error: internal error: {}\n", prog, e.what());
  }
  return 1;
}

} // namespace mtl::rt
