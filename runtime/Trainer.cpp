//===- Trainer.cpp - The training loop -----------------------------------===//

#include "runtime/Trainer.h"
#include "runtime/Batcher.h"
#include "runtime/Error.h"
#include "runtime/Evaluator.h"
#include "runtime/Generated.h"
#include "runtime/LrSchedule.h"
#include "runtime/Metrics.h"
#include "runtime/Pipeline.h"
#include "runtime/strategy/RunStrategy.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <unistd.h>

namespace mtl::rt {

namespace {

using Clock = std::chrono::steady_clock;

double weightedLoss(const Descriptor &d,
                    const std::vector<TaskMetrics> &metrics) {
  double total = 0.0;
  for (size_t t = 0; t < metrics.size(); ++t)
    total += d.tasks[t].weight * metrics[t].loss();
  return total;
}

std::string taskLine(const std::vector<TaskMetrics> &metrics) {
  std::string line;
  for (const TaskMetrics &m : metrics) {
    line += fmt::format("{}{}:", line.empty() ? "" : " | ", m.spec().name);
    for (const auto &[name, value] : m.values())
      line += fmt::format(" {} {:.4f}", name, value);
  }
  return line;
}

// One progress line: redrawn in place on a terminal, printed every ~10% of
// the epoch otherwise (logs stay short).
class Progress {
public:
  Progress(FILE *out, bool quiet, int64_t total)
      : out(out), quiet(quiet), tty(isatty(fileno(out))), total(total) {}

  void update(int64_t epoch, int64_t epochs, int64_t done, double loss) {
    if (quiet)
      return;
    if (tty) {
      auto now = Clock::now();
      if (done != total && now - lastDraw < std::chrono::milliseconds(100))
        return;
      lastDraw = now;
      int width = 30, filled = static_cast<int>(width * done / total);
      fmt::print(out, "\repoch {}/{} [{}{}] {:3d}% {}/{} loss {:.4f}", epoch,
                 epochs, std::string(filled, '='),
                 std::string(width - filled, ' '),
                 static_cast<int>(100 * done / total), done, total, loss);
      std::fflush(out);
      return;
    }
    int64_t tenth = std::max<int64_t>(1, total / 10);
    if (done % tenth == 0 && done != total)
      fmt::print(out, "epoch {}/{} {:3d}% ({}/{}) loss {:.4f}\n", epoch, epochs,
                 static_cast<int>(100 * done / total), done, total, loss);
  }

  void finish() {
    if (!quiet && tty)
      fmt::print(out, "\r\033[K");
  }

private:
  FILE *out;
  bool quiet, tty;
  int64_t total;
  Clock::time_point lastDraw{};
};

} // namespace

int32_t stepSeed(uint64_t seed, int64_t step) {
  return static_cast<int32_t>(splitmix64(splitmix64(seed ^ 0x73656564ull) +
                                         static_cast<uint64_t>(step)) &
                              0x7fffffff);
}

std::vector<EpochSummary> train(Model &model, const Split &data,
                                const TrainOptions &options, FILE *out) {
  const Descriptor &d = model.desc();
  OptimizerConfig config = OptimizerConfig::from(d.train);
  config.lr = options.lr;
  auto opt = makeOptimizer(config, model.values.size());

  int64_t firstEpoch = 0, step = 0;
  uint64_t seed = options.seed;
  CheckpointState resumed;
  if (options.resume) {
    resumed = readCheckpoint(options.checkpoint);
    const CheckpointState &state = resumed;
    model.restore(state, opt.get(), options.checkpoint);
    firstEpoch = state.epoch;
    step = state.globalStep;
    seed = state.seed; // the data order continues as in the first run
    if (!options.quiet)
      fmt::print(out, "resumed from {} (epoch {}, step {})\n",
                 options.checkpoint, firstEpoch, step);
  } else {
    model.initParams(seed);
  }

  Pipeline pipeline(model, "train_step");
  // The multi-task strategy (docs/strategies.md): loss weights before each
  // step, the gradient method at the step's task joins or on the shared
  // parameters' per-task gradients.
  strategy::RunStrategy taskStrategy(model, pipeline, options.weighting,
                                     options.gradient, config, seed);
  if (options.resume)
    taskStrategy.restore(resumed, options.checkpoint);
  std::vector<float> stepLosses(d.tasks.size());
  Batcher batcher(data, d.batch, Batcher::Mode::Train, seed, &d.data.augment);
  const bool validate = options.validation && options.validation->size > 0 &&
                        model.hasPipeline("eval_step");
  if (options.keepBest && !validate)
    fail("--keep-best needs a validation split: set [data] validation in the "
         "spec (a share of the training set, e.g. 0.1)");
  if (options.keepBest && options.checkpoint.empty())
    fail("--keep-best needs a checkpoint path");
  const std::string bestPath = options.checkpoint + ".best";
  // The best so far survives a resume through the checkpoint's header.
  int64_t bestEpoch = options.resume ? resumed.bestEpoch : 0;
  double bestLoss = options.resume ? resumed.bestValidationLoss : 0.0;
  const int64_t batches = batcher.batchesPerEpoch();
  if (batches == 0)
    fail("the training set has {} samples, fewer than one batch of {}",
         data.size, d.batch);

  // The metrics log: one JSON object per line, a "step" line per step and
  // an "epoch" line per epoch, appended so a resumed run continues it.
  std::unique_ptr<FILE, int (*)(FILE *)> log(nullptr, std::fclose);
  if (!options.log.empty()) {
    log.reset(std::fopen(options.log.c_str(), options.resume ? "a" : "w"));
    if (!log)
      fail("cannot write the metrics log {}: {}", options.log,
           std::strerror(errno));
  }
  auto writeLog = [&](const nlohmann::json &j) {
    if (log) {
      std::fputs((j.dump() + "\n").c_str(), log.get());
      std::fflush(log.get());
    }
  };

  std::vector<EpochSummary> summaries;
  std::vector<TaskMetrics> metrics;
  for (const TaskSpec &t : d.tasks)
    metrics.emplace_back(t);

  for (int64_t epoch = firstEpoch; epoch < options.epochs; ++epoch) {
    for (TaskMetrics &m : metrics)
      m.reset();
    Progress progress(out, options.quiet, batches);
    auto start = Clock::now();
    batcher.startEpoch(epoch);
    int64_t done = 0;
    while (const Batch *batch = batcher.next()) {
      pipeline.setBatch(*batch);
      pipeline.setSeed(stepSeed(seed, step));
      taskStrategy.beforeStep(step);
      pipeline.run();
      taskStrategy.afterRun();
      for (size_t t = 0; t < d.tasks.size(); ++t) {
        float loss = pipeline.loss(t);
        TaskBatch view = pipeline.taskBatch(t);
        if (!std::isfinite(loss) && view.rows() > 0) {
          progress.finish();
          fail("epoch {}, step {}: loss of task '{}' is {}; stopping{}",
               epoch + 1, step + 1, d.tasks[t].name, loss,
               options.checkpoint.empty()
                   ? std::string()
                   : fmt::format(" ({} was not updated)", options.checkpoint));
        }
        metrics[t].add(loss, view);
        stepLosses[t] = loss;
      }
      taskStrategy.afterStep(stepLosses);
      pipeline.commitStates();
      opt->setLr(static_cast<float>(learningRate(
          d.train, options.lr, step, options.epochs * batches, batches)));
      opt->step(model.values.data(), model.grads.data());
      ++step;
      if (log) {
        nlohmann::json losses;
        for (size_t t = 0; t < d.tasks.size(); ++t)
          losses[d.tasks[t].name] = pipeline.loss(t);
        nlohmann::json line = {
            {"step", step}, {"epoch", epoch + 1}, {"losses", losses}};
        if (taskStrategy.runtimeWeights())
          line["weights"] = taskStrategy.weights();
        writeLog(line);
      }
      ++done;
      progress.update(epoch + 1, options.epochs, done,
                      weightedLoss(d, metrics));
    }
    progress.finish();
    taskStrategy.afterEpoch();

    EpochSummary s;
    s.epoch = epoch + 1;
    s.loss = weightedLoss(d, metrics);
    for (const TaskMetrics &m : metrics)
      s.tasks.push_back(m.values());
    s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    s.samplesPerSecond = batches * d.batch / std::max(s.seconds, 1e-9);
    std::string valLine;
    bool best = false;
    if (validate) {
      EvalResult v = evaluate(model, *options.validation);
      for (const TaskMetrics &m : v.tasks)
        s.validation.push_back(m.values());
      valLine = taskLine(v.tasks);
      const double valLoss = weightedLoss(d, v.tasks);
      if (options.keepBest && (bestEpoch == 0 || valLoss < bestLoss)) {
        best = true;
        bestEpoch = s.epoch;
        bestLoss = valLoss;
      }
    }
    summaries.push_back(s);
    if (log) {
      nlohmann::json tasks;
      for (size_t t = 0; t < d.tasks.size(); ++t)
        for (const auto &[name, value] : s.tasks[t])
          tasks[d.tasks[t].name][name] = value;
      nlohmann::json line = {{"epoch", s.epoch},
                             {"loss", s.loss},
                             {"tasks", tasks},
                             {"seconds", s.seconds},
                             {"samples_per_second", s.samplesPerSecond}};
      if (!s.validation.empty()) {
        nlohmann::json val;
        for (size_t t = 0; t < d.tasks.size(); ++t)
          for (const auto &[name, value] : s.validation[t])
            val[d.tasks[t].name][name] = value;
        line["validation"] = val;
      }
      if (options.keepBest)
        line["best_epoch"] = bestEpoch;
      writeLog(line);
    }
    if (!options.quiet)
      fmt::print(out,
                 "epoch {}/{}: loss {:.4f} | {} | {:.1f} s, {:.0f} "
                 "samples/s\n",
                 s.epoch, options.epochs, s.loss, taskLine(metrics), s.seconds,
                 s.samplesPerSecond);
    if (!options.quiet && !valLine.empty())
      fmt::print(out, "  validation ({} samples): {}{}\n",
                 options.validation->size, valLine,
                 best ? fmt::format(" (best: {})", bestPath) : "");
    if (!options.checkpoint.empty()) {
      CheckpointState snap = model.snapshot(*opt, epoch + 1, step, seed);
      taskStrategy.save(snap);
      snap.bestEpoch = bestEpoch;
      snap.bestValidationLoss = bestLoss;
      // The best copy first: a crash between the two writes leaves the
      // previous checkpoint, whose header still names the previous best.
      if (best)
        writeCheckpoint(bestPath, snap);
      writeCheckpoint(options.checkpoint, snap);
    }
    std::fflush(out);
  }
  if (!options.quiet && options.resume && firstEpoch >= options.epochs)
    fmt::print(out, "nothing to do: the checkpoint already has {} epochs\n",
               firstEpoch);
  if (!options.quiet && options.keepBest && bestEpoch > 0)
    fmt::print(out, "best: epoch {} (validation loss {:.4f}): {}\n", bestEpoch,
               bestLoss, bestPath);
  return summaries;
}

} // namespace mtl::rt
