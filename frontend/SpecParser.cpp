//===- SpecParser.cpp - TOML model spec -> Spec AST
//------------------------===//
//
// Two phases: each table is read on its own (keys, types, ranges, enum
// values), then names are resolved across the model (duplicates, `input`
// and `from` references). Diagnostics are gathered, sorted by position and
// handed to the engine at the end, so a user reads them top to bottom.
//
//===----------------------------------------------------------------------===//

// toml++ is used header-only in its no-exceptions flavour: this library is
// linked into tools built with -fno-exceptions, and the system's shared
// libtomlplusplus (which the imported target selects with
// TOML_HEADER_ONLY=0) only carries the exceptions ABI, toml::v3::ex.
#undef TOML_HEADER_ONLY
#undef TOML_SHARED_LIB
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include "frontend/SpecParser.h"
#include "frontend/Suggest.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace mtl {
namespace {

using spec::SourceLoc;
using Names = std::vector<std::string>;
using Aliases = std::map<std::string, std::string>;

// The vocabulary of DSL v0 (docs/dsl.md).
const Names kTopKeys = {"model", "input", "backbone", "tasks",
                        "data",  "train", "compile",  "strategy"};
const Names kModelKeys = {"name"};
const Names kInputKeys = {"name", "shape"};
const Names kOps = {
    "dense",      "conv2d",           "relu",          "max_pool",
    "flatten",    "conv_transpose2d", "avg_pool",      "global_avg_pool",
    "upsample",   "reshape",          "concat",        "add",
    "leaky_relu", "sigmoid",          "tanh",          "gelu",
    "softmax",    "layer_norm",       "lstm",          "gru",
    "batch_norm", "dropout",          "reparameterize"};
const Names kCommonLayerKeys = {"name", "op", "input"};
const std::map<std::string, Names> kOpKeys = {
    {"dense", {"units", "bias", "bias_init"}},
    {"conv2d",
     {"filters", "kernel", "stride", "padding", "dilation", "groups", "bias",
      "bias_init"}},
    {"relu", {}},
    {"max_pool", {"kernel", "stride", "padding"}},
    {"flatten", {}},
    {"conv_transpose2d",
     {"filters", "kernel", "stride", "padding", "output_padding", "bias",
      "bias_init"}},
    {"avg_pool", {"kernel", "stride", "padding"}},
    {"global_avg_pool", {}},
    {"upsample", {"scale", "mode"}},
    {"reshape", {"shape"}},
    {"concat", {}},
    {"add", {}},
    {"leaky_relu", {"alpha"}},
    {"sigmoid", {}},
    {"tanh", {}},
    {"gelu", {}},
    {"softmax", {}},
    {"layer_norm", {"eps"}},
    {"lstm", {"units", "return_sequences"}},
    {"gru", {"units", "return_sequences"}},
    {"batch_norm", {"momentum", "eps"}},
    {"dropout", {"rate"}},
    {"reparameterize", {}}};
const Names kAllLayerKeys = {"name",     "op",
                             "input",    "units",
                             "filters",  "kernel",
                             "stride",   "padding",
                             "bias",     "dilation",
                             "groups",   "scale",
                             "mode",     "output_padding",
                             "shape",    "alpha",
                             "eps",      "return_sequences",
                             "momentum", "rate",
                             "bias_init"};
// Ops that read several layers (all named in `input`, at least two).
const Names kMultiInputOps = {"concat", "add"};
// reparameterize reads exactly two: the latent mean and log-variance.
const Names kTwoInputOps = {"reparameterize"};
const Names kUpsampleModes = {"nearest", "bilinear"};
const Names kTaskKeys = {"from",    "loss",   "target", "target_map",
                         "metrics", "weight", "head",   "label_smoothing",
                         "beta",    "mean",   "logvar", "label_fraction",
                         "top_k"};
const Names kLosses = {"softmax_cross_entropy",
                       "mse",
                       "sigmoid_cross_entropy",
                       "l1",
                       "smooth_l1",
                       "iou",
                       "giou",
                       "kl_divergence"};
// Task keys that belong to one loss only.
const std::map<std::string, std::string> kLossOnlyKeys = {
    {"label_smoothing", "softmax_cross_entropy"},
    {"beta", "smooth_l1"},
    {"mean", "kl_divergence"},
    {"logvar", "kl_divergence"}};
// Fields of the data sources: class ids, and float tensors (docs/dsl.md).
const Names kTargets = {"label", "group", "box",  "item",
                        "left",  "right", "image"};
const Names kClassTargets = {"label", "group", "left", "right"};
// `top<k>` (top5, ...) is a metric too.
const Names kMetrics = {"accuracy", "iou", "mse", "mae", "psnr"};
const Names kDataKeys = {
    "source",       "format",       "dir",         "train_images",
    "train_labels", "test_images",  "test_labels", "train_file",
    "test_file",    "label_column", "scale",       "validation",
    "seed",         "augment",      "limit_train", "limit_test"};
const Names kSources = {"idx",           "npy",       "csv", "fashion-detect",
                        "multi-fashion", "sequential"};
const Names kAugmentKeys = {"shift", "crop", "flip", "noise", "rotate"};

/// The fields of data source `source` (all of them are valid targets).
Names sourceFields(const std::string &source) {
  if (source == "fashion-detect")
    return {"label", "group", "box", "item", "image"};
  if (source == "multi-fashion")
    return {"left", "right", "image"};
  if (source == "sequential")
    return {"label", "group", "image"};
  return {"label", "image"};
}

/// The input shape a generated source produces ({} for file sources).
std::vector<int64_t> sourceShape(const std::string &source) {
  if (source == "fashion-detect")
    return {40, 40, 1};
  if (source == "multi-fashion")
    return {36, 36, 1};
  if (source == "sequential")
    return {28, 28};
  return {};
}

/// k of a metric `top<k>` (k >= 1), else 0.
int64_t topKOf(const std::string &m) {
  if (m.size() < 4 || m.size() > 9 || m.compare(0, 3, "top") != 0 ||
      m[3] == '0' || m.find_first_not_of("0123456789", 3) != std::string::npos)
    return 0;
  return std::stoll(m.substr(3));
}
const Names kTrainKeys = {
    "optimizer", "lr",           "momentum", "beta1",       "beta2",
    "eps",       "weight_decay", "batch",    "epochs",      "seed",
    "warmup",    "lr_schedule",  "min_lr",   "step_epochs", "gamma"};
const Names kOptimizers = {"sgd", "adam"};
const Names kLrSchedules = {"constant", "cosine", "step"};
const Names kCompileKeys = {"target"};
const Names kStrategyKeys = {"weighting",       "gradient",       "on",
                             "dwa_temperature", "gradnorm_alpha", "cagrad_c"};
const Names kWeightings = {"equal", "static",   "uncertainty",
                           "dwa",   "gradnorm", "rlw"};
const Names kGradientMethods = {"none", "pcgrad", "mgda_ub", "cagrad",
                                "imtl_g"};
const Names kGradientPlaces = {"rep", "param"};
const Names kCompileTargets = {"cpu", "cuda"};

// Names from other frameworks that edit distance would not find.
const Aliases kOpAliases = {{"fc", "dense"},
                            {"linear", "dense"},
                            {"conv", "conv2d"},
                            {"convolution", "conv2d"},
                            {"maxpool", "max_pool"},
                            {"maxpool2d", "max_pool"},
                            {"pool", "max_pool"},
                            {"avgpool", "avg_pool"},
                            {"avgpool2d", "avg_pool"},
                            {"average_pool", "avg_pool"},
                            {"gap", "global_avg_pool"},
                            {"adaptive_avg_pool", "global_avg_pool"},
                            {"global_average_pool", "global_avg_pool"},
                            {"deconv", "conv_transpose2d"},
                            {"conv_transpose", "conv_transpose2d"},
                            {"convtranspose2d", "conv_transpose2d"},
                            {"upsampling", "upsample"},
                            {"upsample2d", "upsample"},
                            {"interpolate", "upsample"},
                            {"view", "reshape"},
                            {"cat", "concat"},
                            {"concatenate", "concat"},
                            {"sum", "add"},
                            {"residual", "add"},
                            {"leakyrelu", "leaky_relu"},
                            {"logistic", "sigmoid"},
                            {"layernorm", "layer_norm"},
                            {"ln", "layer_norm"},
                            {"batchnorm", "batch_norm"},
                            {"batchnorm2d", "batch_norm"},
                            {"batch_normalization", "batch_norm"},
                            {"bn", "batch_norm"},
                            {"reparameterization", "reparameterize"},
                            {"reparam", "reparameterize"},
                            {"sample", "reparameterize"}};
const Aliases kLossAliases = {
    {"ce", "softmax_cross_entropy"},
    {"cross_entropy", "softmax_cross_entropy"},
    {"crossentropy", "softmax_cross_entropy"},
    {"categorical_crossentropy", "softmax_cross_entropy"},
    {"softmax", "softmax_cross_entropy"},
    {"nll", "softmax_cross_entropy"},
    {"l2", "mse"},
    {"mean_squared_error", "mse"},
    {"bce", "sigmoid_cross_entropy"},
    {"binary_cross_entropy", "sigmoid_cross_entropy"},
    {"bce_with_logits", "sigmoid_cross_entropy"},
    {"binary_crossentropy", "sigmoid_cross_entropy"},
    {"mae", "l1"},
    {"mean_absolute_error", "l1"},
    {"huber", "smooth_l1"},
    {"smoothl1", "smooth_l1"},
    {"iou_loss", "iou"},
    {"giou_loss", "giou"},
    {"kl", "kl_divergence"},
    {"kld", "kl_divergence"}};
const Aliases kTargetAliases = {
    {"class", "label"}, {"labels", "label"}, {"input", "image"}};
const Aliases kMetricAliases = {{"acc", "accuracy"},
                                {"top1", "accuracy"},
                                {"mean_iou", "iou"},
                                {"miou", "iou"},
                                {"l1", "mae"},
                                {"mean_absolute_error", "mae"},
                                {"mean_squared_error", "mse"}};
const Aliases kCompileAliases = {
    {"gpu", "cuda"}, {"nvidia", "cuda"}, {"host", "cpu"}, {"x86", "cpu"}};

// Dimensions are stored as int64 but flow into 32-bit index arithmetic.
constexpr int64_t kMaxDim = 2147483647;

const char *kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

bool contains(const Names &names, const std::string &s) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

bool isIdentifier(const std::string &s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string quote(const std::string &s) { return "'" + s + "'"; }

std::string numStr(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

const char *typeName(const toml::node &n) {
  switch (n.type()) {
  case toml::node_type::string:
    return "string";
  case toml::node_type::integer:
    return "integer";
  case toml::node_type::floating_point:
    return "float";
  case toml::node_type::boolean:
    return "boolean";
  case toml::node_type::array:
    return n.as_array()->is_array_of_tables() ? "array of tables" : "array";
  case toml::node_type::table:
    return "table";
  case toml::node_type::date:
    return "date";
  case toml::node_type::time:
    return "time";
  case toml::node_type::date_time:
    return "date-time";
  default:
    return "nothing";
  }
}

/// One key of a table, with where the key and its value are written.
struct Entry {
  std::string key;
  const toml::node *node;
  SourceLoc keyLoc;
  SourceLoc loc;                       // the value
  const toml::table *parent = nullptr; // the table holding the key
};

/// A defined layer name, for resolving references.
struct Def {
  enum Kind { Input, Backbone, Head } kind;
  size_t task = 0;  // Head
  size_t index = 0; // Backbone, Head
  SourceLoc loc;
};

class Parser {
public:
  explicit Parser(std::string file) : file(std::move(file)) {}

  std::optional<spec::Spec> parse(const toml::table &root);

  /// The diagnostics in source order (file-level ones first).
  std::vector<Diagnostic> takeDiagnostics() {
    std::stable_sort(diags.begin(), diags.end(),
                     [](const Diagnostic &a, const Diagnostic &b) {
                       return std::make_pair(a.loc.line, a.loc.col) <
                              std::make_pair(b.loc.line, b.loc.col);
                     });
    return std::move(diags);
  }

private:
  std::string file;
  std::vector<Diagnostic> diags;
  spec::Spec spec;
  /// (table, key) pairs suggested for a misspelt key: the key then counts
  /// as given, so "unknown key 'filter'" is not followed by "no 'filters'".
  std::set<std::pair<const toml::table *, std::string>> suggested;

  // --- Reporting -----------------------------------------------------------
  SourceLoc at(const toml::source_region &r) const {
    return {file, static_cast<int>(r.begin.line),
            static_cast<int>(r.begin.column)};
  }
  SourceLoc at(const toml::node &n) const { return at(n.source()); }

  void error(const SourceLoc &loc, std::string msg,
             std::vector<DiagNote> notes = {}) {
    diags.push_back({Severity::Error, loc, std::move(msg), std::move(notes)});
  }
  static DiagNote note(std::string msg, SourceLoc loc = {}) {
    return {std::move(loc), std::move(msg)};
  }

  /// "unknown key 'k' in WHERE; did you mean 'x'?" at the key.
  void unknownKey(const Entry &e, const std::string &where,
                  const Names &valid) {
    std::string msg = where.empty()
                          ? "unknown top-level key " + quote(e.key)
                          : "unknown key " + quote(e.key) + " in " + where;
    if (auto s = suggestName(e.key, valid)) {
      suggested.insert({e.parent, *s});
      return error(e.keyLoc, msg + "; did you mean " + quote(*s) + "?");
    }
    error(e.keyLoc, msg, {note("valid keys: " + joinNames(valid))});
  }

  /// Whether `key` is missing from `t` only because it was misspelt.
  bool misspelt(const toml::table *t, const std::string &key) const {
    return suggested.count({t, key}) != 0;
  }

  /// "unknown WHAT 'v'; did you mean 'x'?" at the value.
  void unknownValue(const Entry &e, const std::string &value,
                    const std::string &what, const Names &valid,
                    const Aliases &aliases = {}) {
    std::string msg = "unknown " + what + " " + quote(value);
    std::vector<DiagNote> notes;
    if (auto s = suggestName(value, valid, aliases))
      msg += "; did you mean " + quote(*s) + "?";
    std::string plural = what.back() == 's' ? what + "es" : what + "s";
    notes.push_back(note("valid " + plural + ": " + joinNames(valid)));
    error(e.loc, msg, std::move(notes));
  }

  void typeError(const Entry &e, const std::string &expected) {
    error(e.loc,
          quote(e.key) + " must be " + expected + ", got " + typeName(*e.node));
  }

  // --- Reading values ------------------------------------------------------
  /// The keys of `t` in the order they are written.
  std::vector<Entry> entries(const toml::table &t) const {
    std::vector<Entry> out;
    for (auto &&[k, v] : t)
      out.push_back({std::string(k.str()), &v, at(k.source()), at(v), &t});
    std::stable_sort(out.begin(), out.end(),
                     [](const Entry &a, const Entry &b) {
                       return std::make_pair(a.keyLoc.line, a.keyLoc.col) <
                              std::make_pair(b.keyLoc.line, b.keyLoc.col);
                     });
    return out;
  }

  const toml::table *getTable(const Entry &e) {
    if (const toml::table *t = e.node->as_table())
      return t;
    typeError(e, "a table");
    return nullptr;
  }

  std::optional<std::string> getString(const Entry &e) {
    if (auto *v = e.node->as_string())
      return v->get();
    typeError(e, "a string");
    return std::nullopt;
  }

  std::optional<std::string> getNonEmptyString(const Entry &e) {
    auto s = getString(e);
    if (s && s->empty()) {
      error(e.loc, quote(e.key) + " must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> getIdentifier(const Entry &e) {
    auto s = getString(e);
    if (s && !isIdentifier(*s)) {
      error(e.loc, quote(e.key) + " must be an identifier, got '" + *s + "'",
            {note("identifiers match [A-Za-z_][A-Za-z0-9_]*")});
      return std::nullopt;
    }
    return s;
  }

  /// A string that must be one of `valid`.
  std::optional<std::string> getChoice(const Entry &e, const std::string &what,
                                       const Names &valid,
                                       const Aliases &aliases = {}) {
    auto s = getString(e);
    if (!s)
      return std::nullopt;
    if (contains(valid, *s))
      return s;
    unknownValue(e, *s, what, valid, aliases);
    return std::nullopt;
  }

  std::optional<bool> getBool(const Entry &e) {
    if (auto *v = e.node->as_boolean())
      return v->get();
    typeError(e, "a boolean");
    return std::nullopt;
  }

  /// An integer in [lo, hi].
  std::optional<int64_t> getInt(const Entry &e, int64_t lo,
                                int64_t hi = INT64_MAX) {
    auto *v = e.node->as_integer();
    if (!v) {
      typeError(e, "an integer");
      return std::nullopt;
    }
    return checkIntRange(e.key, at(*v), v->get(), lo, hi);
  }

  std::optional<int64_t> checkIntRange(const std::string &key,
                                       const SourceLoc &loc, int64_t x,
                                       int64_t lo, int64_t hi) {
    std::string got = ", got " + std::to_string(x);
    if (x < lo && lo == 1)
      error(loc, quote(key) + " must be positive" + got);
    else if (x < lo && lo == 0)
      error(loc, quote(key) + " must not be negative" + got);
    else if (x < lo)
      error(loc, quote(key) + " must be at least " + std::to_string(lo) + got);
    else if (x > hi)
      error(loc, quote(key) + " is too large (at most " + std::to_string(hi) +
                     ")" + got);
    else
      return x;
    return std::nullopt;
  }

  /// A finite number (integer or float) in the range lo..hi, where each end
  /// is open or closed.
  std::optional<double> getNumber(const Entry &e, double lo, bool loOpen,
                                  double hi = INFINITY, bool hiOpen = true) {
    double x;
    if (auto *f = e.node->as_floating_point())
      x = f->get();
    else if (auto *i = e.node->as_integer())
      x = static_cast<double>(i->get());
    else {
      typeError(e, "a number");
      return std::nullopt;
    }
    std::string got = ", got " + numStr(x);
    if (!std::isfinite(x)) {
      error(e.loc, quote(e.key) + " must be a finite number" + got);
      return std::nullopt;
    }
    bool low = loOpen ? x <= lo : x < lo;
    bool high = hiOpen ? x >= hi : x > hi;
    if (!low && !high)
      return x;
    if (std::isinf(hi) && lo == 0)
      error(e.loc,
            quote(e.key) +
                (loOpen ? " must be positive" : " must not be negative") + got);
    else
      error(e.loc, quote(e.key) + " must be in " + (loOpen ? "(" : "[") +
                       numStr(lo) + ", " + numStr(hi) + (hiOpen ? ")" : "]") +
                       got);
    return std::nullopt;
  }

  /// An integer or an array of `n` integers, each in [lo, kMaxDim]; an
  /// integer is repeated `n` times.
  std::optional<std::vector<int64_t>> getInts(const Entry &e, size_t n,
                                              int64_t lo,
                                              const std::string &form,
                                              bool allowScalar) {
    if (auto *i = e.node->as_integer()) {
      if (!allowScalar) {
        typeError(e, "an array " + form);
        return std::nullopt;
      }
      auto x = checkIntRange(e.key, e.loc, i->get(), lo, kMaxDim);
      if (!x)
        return std::nullopt;
      return std::vector<int64_t>(n, *x);
    }
    const toml::array *a = e.node->as_array();
    if (!a) {
      typeError(e, allowScalar ? "an integer or an array " + form
                               : "an array " + form);
      return std::nullopt;
    }
    if (a->size() != n) {
      error(e.loc, quote(e.key) + " must have " + std::to_string(n) +
                       " elements " + form + ", got " +
                       std::to_string(a->size()));
      return std::nullopt;
    }
    std::vector<int64_t> out;
    bool ok = true;
    for (const toml::node &el : *a) {
      auto *i = el.as_integer();
      if (!i) {
        error(at(el), "elements of " + quote(e.key) +
                          " must be integers, got " + typeName(el));
        ok = false;
        continue;
      }
      auto x = checkIntRange(e.key, at(el), i->get(), lo, kMaxDim);
      ok &= x.has_value();
      out.push_back(x.value_or(0));
    }
    if (!ok)
      return std::nullopt;
    return out;
  }

  // --- Sections ------------------------------------------------------------
  void parseModel(const Entry &top);
  void parseInput(const Entry &top);
  void parseBackbone(const Entry &top);
  void parseTasks(const Entry &top);
  void parseTask(const Entry &e);
  void parseData(const Entry &top);
  void parseAugment(const Entry &top);
  /// Targets against the data source's fields, the input shape against a
  /// generated source's (after every table is read: [data] may come last).
  void checkData();
  void parseTrain(const Entry &top);
  void parseCompile(const Entry &top);
  void parseStrategy(const Entry &top);
  spec::Layer parseLayer(const toml::table &t, size_t index,
                         const std::string &task);
  void parseLayerInputs(const Entry &e, spec::Layer &l, bool opKnown);
  /// The layer tables of an array of tables such as `backbone` or `head`.
  std::vector<const toml::table *> layerTables(const Entry &e,
                                               const std::string &header);

  // --- Names ---------------------------------------------------------------
  void resolveNames();
  void checkLayerRefs(const spec::Layer &l, const Def &self,
                      const std::map<std::string, Def> &defs);
  /// Rewrites "task.layer" references (layer inputs, task `from`) to the
  /// layer's name, after checking that the task has that layer.
  void qualifyRefs(const std::map<std::string, Def> &defs);
  bool qualifyRef(std::string &ref, const SourceLoc &loc,
                  const std::map<std::string, Def> &defs);
  /// Heads may read each other's layers, but not in a cycle.
  void checkHeadCycles(const std::map<std::string, Def> &defs);
  std::string describe(const Def &d) const;
};

std::optional<spec::Spec> Parser::parse(const toml::table &root) {
  spec.file = file;
  for (const Entry &e : entries(root)) {
    spec.keyLocs[e.key] = e.loc;
    if (e.key == "model")
      parseModel(e);
    else if (e.key == "input")
      parseInput(e);
    else if (e.key == "backbone")
      parseBackbone(e);
    else if (e.key == "tasks")
      parseTasks(e);
    else if (e.key == "data")
      parseData(e);
    else if (e.key == "train")
      parseTrain(e);
    else if (e.key == "compile")
      parseCompile(e);
    else if (e.key == "strategy")
      parseStrategy(e);
    else
      unknownKey(e, "", kTopKeys);
  }

  SourceLoc start{file, 1, 1};
  auto missing = [&](const char *key) {
    return !spec.keyLocs.count(key) && !misspelt(&root, key);
  };
  if (missing("model"))
    error(start, "missing [model] table",
          {note("every spec starts with [model] and its name = \"...\"")});
  if (missing("input"))
    error(start, "missing [input] table",
          {note("[input] gives the input shape, e.g. shape = [28, 28, 1]")});
  if (missing("tasks"))
    error(start, "missing [tasks]: a spec needs at least one task",
          {note("define a task with a [tasks.NAME] table")});
  if (!spec.keyLocs.count("data"))
    spec.data.dir = kDefaultDataDir;
  checkData();
  if (spec.strategy.gradient != "none" && spec.tasks.size() == 1)
    error(spec.strategy.keyLocs.at("gradient"),
          "gradient method " + quote(spec.strategy.gradient) +
              " needs at least two tasks, the spec has one",
          {note("it combines the tasks' gradients where they meet")});

  resolveNames();

  bool failed = std::any_of(diags.begin(), diags.end(), [](const auto &d) {
    return d.severity == Severity::Error;
  });
  if (failed)
    return std::nullopt;
  return std::move(spec);
}

void Parser::parseModel(const Entry &top) {
  const toml::table *t = getTable(top);
  if (!t)
    return;
  for (const Entry &e : entries(*t)) {
    if (e.key == "name") {
      spec.nameLoc = e.loc;
      if (auto s = getIdentifier(e))
        spec.name = *s;
    } else {
      unknownKey(e, "[model]", kModelKeys);
    }
  }
  if (spec.nameLoc.line == 0 && !misspelt(t, "name"))
    error(top.loc, "[model] has no 'name'",
          {note("add name = \"...\", an identifier")});
}

void Parser::parseInput(const Entry &top) {
  spec::Input &in = spec.input;
  in.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  for (const Entry &e : entries(*t)) {
    in.keyLocs[e.key] = e.loc;
    if (e.key == "name") {
      if (auto s = getIdentifier(e))
        in.name = *s;
    } else if (e.key == "shape") {
      // An image [H, W, C], a sequence [T, F] (recurrent layers read it
      // step by step) or a feature vector [F] (tabular data, CSV).
      const toml::array *a = e.node->as_array();
      size_t n = a ? a->size() : 3;
      if (a && (n < 1 || n > 3))
        error(e.loc, "'shape' must have 1 to 3 elements ([H, W, C] image, "
                     "[T, F] sequence or [F] features), got " +
                         std::to_string(n));
      else if (auto v = getInts(e, n, 1, "[H, W, C], [T, F] or [F]",
                                /*allowScalar=*/false))
        in.shape = *v;
    } else {
      unknownKey(e, "[input]", kInputKeys);
    }
  }
  if (!in.keyLocs.count("shape") && !misspelt(t, "shape"))
    error(top.loc, "[input] has no 'shape'",
          {note("add shape = [H, W, C], e.g. [28, 28, 1] (or [T, F] for a "
                "sequence, [F] for features)")});
}

std::vector<const toml::table *>
Parser::layerTables(const Entry &e, const std::string &header) {
  std::vector<const toml::table *> out;
  const toml::array *a = e.node->as_array();
  if (!a) {
    error(e.loc,
          quote(e.key) + " must be an array of tables, got " +
              typeName(*e.node),
          {note("write each layer as a [[" + header + "]] table")});
    return out;
  }
  for (const toml::node &el : *a) {
    if (const toml::table *t = el.as_table())
      out.push_back(t);
    else
      error(at(el),
            "each entry of " + quote(e.key) + " must be a table, got " +
                typeName(el),
            {note("write each layer as a [[" + header + "]] table")});
  }
  return out;
}

void Parser::parseBackbone(const Entry &top) {
  std::vector<const toml::table *> tables = layerTables(top, "backbone");
  for (size_t i = 0; i < tables.size(); ++i)
    spec.backbone.push_back(parseLayer(*tables[i], i, ""));
}

spec::Layer Parser::parseLayer(const toml::table &t, size_t index,
                               const std::string &task) {
  spec::Layer l;
  l.loc = at(t);
  std::vector<Entry> es = entries(t);

  // The op comes first: the other keys are judged against it.
  bool opKnown = false;
  auto opIt = std::find_if(es.begin(), es.end(),
                           [](const Entry &e) { return e.key == "op"; });
  if (opIt == es.end()) {
    error(l.loc, "layer has no 'op'", {note("valid ops: " + joinNames(kOps))});
  } else if (auto op = getChoice(*opIt, "op", kOps, kOpAliases)) {
    l.op = *op;
    opKnown = true;
  }
  Names valid = kAllLayerKeys;
  std::string where = "layer";
  if (opKnown) {
    valid = kCommonLayerKeys;
    const Names &own = kOpKeys.at(l.op);
    valid.insert(valid.end(), own.begin(), own.end());
    where = l.op + " layer";
  }

  // Generated names are unique: the index is the position in its list, and
  // head layers carry their task's name.
  l.name = (task.empty() ? "" : task + "_") + (opKnown ? l.op : "layer") + "_" +
           std::to_string(index);

  const Entry *kernel = nullptr, *stride = nullptr, *padding = nullptr;
  bool samePadding = false;
  for (const Entry &e : es) {
    l.keyLocs[e.key] = e.loc;
    if (!contains(valid, e.key)) {
      if (contains(kAllLayerKeys, e.key))
        error(e.keyLoc, quote(e.key) + " is not a key of op " + quote(l.op),
              {note("keys of op " + quote(l.op) + ": " + joinNames(valid))});
      else
        unknownKey(e, where, valid);
      continue;
    }
    if (e.key == "op")
      continue;
    if (e.key == "name") {
      if (auto s = getIdentifier(e))
        l.name = *s;
    } else if (e.key == "input") {
      parseLayerInputs(e, l, opKnown);
    } else if (e.key == "units") {
      if (auto v = getInt(e, 1, kMaxDim))
        l.units = *v;
    } else if (e.key == "filters") {
      if (auto v = getInt(e, 1, kMaxDim))
        l.filters = *v;
    } else if (e.key == "kernel") {
      kernel = &e;
      if (auto v = getInts(e, 2, 1, "[kh, kw]", true))
        l.kernel = *v;
    } else if (e.key == "stride") {
      stride = &e;
      if (auto v = getInts(e, 2, 1, "[sh, sw]", true))
        l.stride = *v;
    } else if (e.key == "padding") {
      padding = &e;
      if (auto *s = e.node->as_string()) {
        if (s->get() == "same")
          samePadding = true;
        else
          error(e.loc, "unknown padding '" + s->get() + "'",
                {note("padding is an integer, [ph, pw] or \"same\"; for no "
                      "padding write padding = 0")});
      } else if (e.node->is_integer() || e.node->is_array()) {
        if (auto v = getInts(e, 2, 0, "[ph, pw]", true))
          l.padding = *v;
      } else {
        typeError(e, "an integer, an array [ph, pw] or \"same\"");
      }
    } else if (e.key == "bias") {
      if (auto b = getBool(e))
        l.bias = *b;
    } else if (e.key == "bias_init") {
      // One value for every output, or one per output (checked below).
      if (auto *a = e.node->as_array()) {
        for (const toml::node &x : *a) {
          Entry item = e;
          item.node = &x;
          if (auto v = getNumber(item, -INFINITY, true))
            l.biasInit.push_back(*v);
        }
        if (a->empty())
          error(e.loc, "'bias_init' is empty",
                {note("give one number, or one per output")});
      } else if (auto v = getNumber(e, -INFINITY, true)) {
        l.biasInit = {*v};
      }
    } else if (e.key == "dilation") {
      if (auto v = getInts(e, 2, 1, "[dh, dw]", true))
        l.dilation = *v;
    } else if (e.key == "groups") {
      if (auto v = getInt(e, 1, kMaxDim))
        l.groups = *v;
    } else if (e.key == "output_padding") {
      if (auto v = getInts(e, 2, 0, "[oph, opw]", true))
        l.outputPadding = *v;
    } else if (e.key == "scale") {
      if (auto v = getInts(e, 2, 1, "[sh, sw]", true))
        l.scale = *v;
    } else if (e.key == "mode") {
      if (auto m = getChoice(
              e, "upsample mode", kUpsampleModes,
              {{"linear", "bilinear"}, {"nearest_neighbor", "nearest"}}))
        l.mode = *m;
    } else if (e.key == "shape") {
      const toml::array *a = e.node->as_array();
      if (!a || a->empty()) {
        if (!a)
          typeError(e, "an array of integers");
        else
          error(e.loc, "'shape' must not be empty",
                {note("'shape' is the shape of one sample, e.g. [32, 7, 7]")});
        continue;
      }
      bool inferred = false; // one -1: that dim from the others
      for (const toml::node &el : *a) {
        auto *i = el.as_integer();
        if (!i) {
          error(at(el), "elements of 'shape' must be integers, got " +
                            std::string(typeName(el)));
        } else if (i->get() == -1 && l.op == "reshape") {
          if (inferred)
            error(at(el), "only one dim of 'shape' can be -1 (inferred)");
          inferred = true;
          l.shape.push_back(-1);
        } else if (auto x =
                       checkIntRange("shape", at(el), i->get(), 1, kMaxDim)) {
          l.shape.push_back(*x);
        }
      }
    } else if (e.key == "alpha") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        l.alpha = *v;
    } else if (e.key == "eps") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        l.eps = *v;
    } else if (e.key == "return_sequences") {
      if (auto b = getBool(e))
        l.returnSequences = *b;
    } else if (e.key == "momentum") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false, 1, /*hiOpen=*/false))
        l.momentum = *v;
    } else if (e.key == "rate") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false, 1, /*hiOpen=*/true))
        l.rate = *v;
    }
  }
  if (!opKnown)
    return l;

  auto require = [&](const char *key, const std::string &hint) {
    if (!l.keyLocs.count(key) && !misspelt(&t, key))
      error(l.loc, l.op + " layer " + quote(l.name) + " has no " + quote(key),
            {note(hint)});
  };
  if (!l.biasInit.empty()) {
    int64_t outputs = l.op == "dense" ? l.units : l.filters;
    const SourceLoc &loc = l.keyLocs["bias_init"];
    if (!l.bias)
      error(loc, "'bias_init' given, but this layer has bias = false");
    else if (l.biasInit.size() != 1 && outputs > 0 &&
             static_cast<int64_t>(l.biasInit.size()) != outputs)
      error(loc,
            "'bias_init' has " + std::to_string(l.biasInit.size()) +
                " values, but the layer has " + std::to_string(outputs) +
                " outputs",
            {note("give one number for all outputs, or one per output")});
  }
  if (l.op == "dense") {
    require("units", "'units' is the number of outputs, e.g. units = 128");
  } else if (l.op == "lstm" || l.op == "gru") {
    require("units", "'units' is the size of the hidden state, e.g. units = "
                     "128");
  } else if (l.op == "conv2d" || l.op == "conv_transpose2d") {
    require("filters", "'filters' is the number of output channels");
    require("kernel", "'kernel' is the window size, e.g. kernel = 3");
    if (!stride)
      l.stride = {1, 1};
    if (l.dilation.empty())
      l.dilation = {1, 1};
    if (samePadding && l.op == "conv_transpose2d") {
      error(padding->loc,
            "padding = \"same\" is for conv2d; conv_transpose2d takes an "
            "integer or [ph, pw]",
            {note("with kernel k and stride s, padding = (k - s) / 2 gives "
                  "an output s times the input (add output_padding for odd "
                  "k - s)")});
    } else if (samePadding && !l.kernel.empty()) {
      if (l.kernel[0] % 2 == 0 || l.kernel[1] % 2 == 0)
        error(padding->loc, "padding = \"same\" needs an odd kernel",
              {note("kernel given here", kernel->loc)});
      else
        l.padding = {l.dilation[0] * (l.kernel[0] / 2),
                     l.dilation[1] * (l.kernel[1] / 2)};
    }
    if (!padding)
      l.padding = {0, 0};
    if (l.outputPadding.empty())
      l.outputPadding = {0, 0};
    else if (l.stride.size() == 2 && (l.outputPadding[0] >= l.stride[0] ||
                                      l.outputPadding[1] >= l.stride[1]))
      error(l.keyLocs["output_padding"],
            "'output_padding' must be smaller than the stride",
            {note("stride is [" + std::to_string(l.stride[0]) + ", " +
                  std::to_string(l.stride[1]) + "]")});
  } else if (l.op == "max_pool" || l.op == "avg_pool") {
    if (!kernel)
      l.kernel = {2, 2};
    if (!stride)
      l.stride = l.kernel;
    if (samePadding)
      error(padding->loc,
            "padding = \"same\" is for conv2d; a pool takes an integer or "
            "[ph, pw]",
            {note("a 3x3 pool with stride 1 keeps the size with padding = 1")});
    else if (padding && l.padding.size() == 2 && l.kernel.size() == 2 &&
             (l.padding[0] >= l.kernel[0] || l.padding[1] >= l.kernel[1]))
      error(padding->loc, "a pool's padding must be smaller than its kernel",
            {note("a window of padding only has no value")});
  } else if (l.op == "upsample") {
    if (l.scale.empty())
      l.scale = {2, 2};
    if (l.mode.empty())
      l.mode = "nearest";
  } else if (l.op == "reshape") {
    require("shape", "'shape' is the shape of one sample, e.g. [32, 7, 7]");
  } else if (contains(kTwoInputOps, l.op) && !l.keyLocs.count("input")) {
    error(l.loc, l.op + " layer " + quote(l.name) + " has no 'input'",
          {note("reparameterize reads the latent mean and log-variance: "
                "input = [\"z_mean\", \"z_logvar\"]")});
  } else if (contains(kMultiInputOps, l.op) && l.inputs.size() < 2 &&
             !l.keyLocs.count("input")) {
    error(l.loc, l.op + " layer " + quote(l.name) + " has no 'input'",
          {note(l.op + " reads two or more layers: input = [\"a\", \"b\"]")});
  }
  return l;
}

void Parser::parseLayerInputs(const Entry &e, spec::Layer &l, bool opKnown) {
  if (auto *s = e.node->as_string()) {
    l.inputs.push_back(s->get());
    l.inputLocs.push_back(e.loc);
  } else if (auto *a = e.node->as_array()) {
    if (a->empty())
      error(e.loc, "'input' must name at least one layer");
    for (const toml::node &el : *a) {
      if (auto *s = el.as_string()) {
        l.inputs.push_back(s->get());
        l.inputLocs.push_back(at(el));
      } else {
        error(at(el), "entries of 'input' must be layer names (strings), got " +
                          std::string(typeName(el)));
      }
    }
  } else {
    typeError(e, "a layer name or an array of layer names");
    return;
  }
  // concat and add read two or more tensors, every other op one.
  if (opKnown && contains(kMultiInputOps, l.op) && l.inputs.size() == 1)
    error(e.loc,
          "op " + quote(l.op) +
              " reads two or more layers, but 'input' names 1",
          {note("write input = [\"a\", \"b\"]")});
  else if (opKnown && contains(kTwoInputOps, l.op) && l.inputs.size() != 2)
    error(e.loc,
          "op " + quote(l.op) +
              " reads two layers (mean, logvar), but 'input' names " +
              std::to_string(l.inputs.size()),
          {note("write input = [\"z_mean\", \"z_logvar\"]")});
  else if (opKnown && !contains(kMultiInputOps, l.op) &&
           !contains(kTwoInputOps, l.op) && l.inputs.size() > 1)
    error(e.loc, "op " + quote(l.op) + " reads one layer, but 'input' names " +
                     std::to_string(l.inputs.size()));
}

void Parser::parseTasks(const Entry &top) {
  const toml::table *t = getTable(top);
  if (!t)
    return;
  std::vector<Entry> es = entries(*t);
  if (es.empty())
    error(top.loc, "no tasks defined",
          {note("define a task with a [tasks.NAME] table")});
  for (const Entry &e : es)
    parseTask(e);
}

void Parser::parseTask(const Entry &top) {
  spec::Task task;
  task.name = top.key;
  task.loc = top.loc;
  std::string what = "task " + quote(task.name);
  if (!isIdentifier(task.name))
    error(top.keyLoc,
          "task name " + quote(task.name) + " must be an identifier",
          {note("identifiers match [A-Za-z_][A-Za-z0-9_]*")});
  const toml::table *t = top.node->as_table();
  if (!t) {
    error(top.loc, what + " must be a table, got " + typeName(*top.node),
          {note("each task is a table: [tasks.NAME] with loss, target and "
                "head")});
    return;
  }

  const Entry *lossE = nullptr, *targetE = nullptr, *mapE = nullptr,
              *metricsE = nullptr;
  std::vector<std::pair<std::string, SourceLoc>> metrics;
  std::optional<std::pair<std::string, SourceLoc>> topK; // `top_k = K`
  bool badMetrics = false;
  std::vector<Entry> es = entries(*t); // outlives the pointers above
  for (const Entry &e : es) {
    task.keyLocs[e.key] = e.loc;
    if (e.key == "from") {
      if (auto s = getNonEmptyString(e))
        task.from = *s;
    } else if (e.key == "loss") {
      lossE = &e;
      if (auto s = getChoice(e, "loss", kLosses, kLossAliases))
        task.loss = *s;
    } else if (e.key == "target") {
      targetE = &e;
      if (auto s = getChoice(e, "target", kTargets, kTargetAliases))
        task.target = *s;
    } else if (e.key == "target_map") {
      mapE = &e;
      const toml::array *a = e.node->as_array();
      if (!a) {
        typeError(e, "an array of integers");
        continue;
      }
      if (a->empty())
        error(e.loc, "'target_map' must not be empty",
              {note("it maps each label to a class of this task")});
      for (const toml::node &el : *a) {
        auto *i = el.as_integer();
        if (!i)
          error(at(el), "elements of 'target_map' must be integers, got " +
                            std::string(typeName(el)));
        else if (auto x =
                     checkIntRange("target_map", at(el), i->get(), 0, kMaxDim))
          task.targetMap.push_back(*x);
      }
    } else if (e.key == "metrics") {
      metricsE = &e;
      const toml::array *a = e.node->as_array();
      if (!a) {
        typeError(e, "an array of strings");
        badMetrics = true;
        continue;
      }
      for (const toml::node &el : *a) {
        auto *s = el.as_string();
        if (!s) {
          error(at(el), "elements of 'metrics' must be strings, got " +
                            std::string(typeName(el)));
          badMetrics = true;
        } else if (!contains(kMetrics, s->get()) && !topKOf(s->get())) {
          unknownValue({"metrics", &el, at(el), at(el)}, s->get(), "metric",
                       kMetrics, kMetricAliases);
          badMetrics = true;
        } else {
          metrics.push_back({s->get(), at(el)});
        }
      }
    } else if (e.key == "weight") {
      if (auto w = getNumber(e, 0, /*loOpen=*/true))
        task.weight = *w;
    } else if (e.key == "label_fraction") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true, 1, /*hiOpen=*/false))
        task.labelFraction = *v;
    } else if (e.key == "top_k") {
      if (auto k = getInt(e, 1, 1000))
        topK = {"top" + std::to_string(*k), e.loc};
    } else if (e.key == "label_smoothing") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false, 1, /*hiOpen=*/true))
        task.labelSmoothing = *v;
    } else if (e.key == "beta") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        task.beta = *v;
    } else if (e.key == "mean") {
      if (auto v = getNonEmptyString(e))
        task.mean = *v;
    } else if (e.key == "logvar") {
      if (auto v = getNonEmptyString(e))
        task.logvar = *v;
    } else if (e.key == "head") {
      std::vector<const toml::table *> tables =
          layerTables(e, "tasks." + task.name + ".head");
      if (e.node->is_array() && e.node->as_array()->empty())
        error(e.loc, what + " has an empty head",
              {note("a head needs at least one layer")});
      for (size_t i = 0; i < tables.size(); ++i)
        task.head.push_back(parseLayer(*tables[i], i, task.name));
    } else {
      unknownKey(e, what, kTaskKeys);
    }
  }

  if (!lossE && !misspelt(t, "loss"))
    error(task.loc, what + " has no 'loss'",
          {note("valid losses: " + joinNames(kLosses))});
  // kl_divergence reads two backbone layers, named by 'mean' and 'logvar';
  // it has no target and no head.
  const bool kl = task.loss == "kl_divergence";
  if (!kl && !targetE && !misspelt(t, "target"))
    error(task.loc, what + " has no 'target'",
          {note("valid targets: " + joinNames(kTargets))});
  if (!kl && !task.keyLocs.count("head") && !misspelt(t, "head"))
    error(task.loc, what + " has no 'head'",
          {note("add its layers as [[tasks." + task.name + ".head]] tables")});
  if (kl) {
    for (const char *key : {"target", "head", "from", "target_map"})
      if (task.keyLocs.count(key))
        error(task.keyLocs[key],
              quote(key) + " does not apply to loss 'kl_divergence'",
              {note("a kl_divergence task reads the layers named by 'mean' "
                    "and 'logvar'",
                    lossE->loc)});
    for (const char *key : {"mean", "logvar"})
      if (!task.keyLocs.count(key) && !misspelt(t, key))
        error(task.loc, what + " has no " + quote(key),
              {note("loss 'kl_divergence' needs mean = \"LAYER\" and logvar "
                    "= \"LAYER\", two backbone layers of the same shape")});
  }
  if (!task.loss.empty())
    for (const Entry &e : es) {
      auto only = kLossOnlyKeys.find(e.key);
      if (only != kLossOnlyKeys.end() && only->second != task.loss)
        error(e.keyLoc,
              quote(e.key) + " applies to loss " + quote(only->second) +
                  " only, but loss is " + quote(task.loss),
              {note("loss set here", lossE->loc)});
    }

  // Combinations, judged only when both sides are valid.
  bool ce = task.loss == "softmax_cross_entropy", mse = task.loss == "mse";
  bool floatLoss = !ce && !kl && !task.loss.empty();
  bool classTarget = contains(kClassTargets, task.target);
  bool floatTarget = !task.target.empty() && !classTarget;
  if (floatLoss && classTarget)
    error(lossE->loc,
          "loss " + quote(task.loss) +
              " needs a float target, but target = \"" + task.target +
              "\" gives class ids",
          {note("use a float target (image, box, item), or loss = "
                "\"softmax_cross_entropy\" for classification",
                targetE->loc)});
  if (ce && floatTarget)
    error(lossE->loc,
          "loss 'softmax_cross_entropy' needs class ids, but target = \"" +
              task.target + "\" is a float tensor",
          {note("use a class target (label, group, left, right), or loss = "
                "\"mse\" for regression",
                targetE->loc)});
  if (mapE && floatTarget)
    error(mapE->loc, "'target_map' needs a class target such as \"label\"",
          {note("target is '" + task.target + "' here", targetE->loc)});
  if (topK) {
    if (std::none_of(metrics.begin(), metrics.end(),
                     [&](const auto &m) { return m.first == topK->first; }))
      metrics.push_back(*topK);
  }
  for (const auto &[m, loc] : metrics) {
    if (topKOf(m) && !ce && !task.loss.empty())
      error(loc, "metric " + quote(m) + " needs loss 'softmax_cross_entropy'",
            {note("top-k accuracy ranks the logits of a classifier")});
    bool valueMetric = m == "iou" || m == "mae" || m == "psnr";
    if (valueMetric && ce)
      error(loc, "metric " + quote(m) + " needs a regression loss",
            {note("use metrics = [\"accuracy\"] with loss "
                  "'softmax_cross_entropy'")});
    if (m == "iou" && !ce && !task.target.empty() && task.target != "box")
      error(loc, "metric 'iou' needs target = \"box\"",
            {note("target is '" + task.target + "' here", targetE->loc)});
    if (m == "accuracy" && !ce && !task.loss.empty())
      error(loc, "metric 'accuracy' needs loss 'softmax_cross_entropy'",
            {note(mse ? std::string("use metrics = [\"mse\"] with loss 'mse'")
                      : "loss " + quote(task.loss) + " has no accuracy")});
    if (m == "mse" && ce)
      error(loc, "metric 'mse' needs a regression loss",
            {note("use metrics = [\"accuracy\"] with loss "
                  "'softmax_cross_entropy'")});
  }
  for (size_t i = 0; i < metrics.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (metrics[i].first == metrics[j].first)
        error(metrics[i].second,
              "metric " + quote(metrics[i].first) + " is listed twice");
  if (metricsE) {
    if (!badMetrics)
      for (const auto &m : metrics)
        task.metrics.push_back(m.first);
  } else if (ce) {
    task.metrics = {"accuracy"};
    if (topK)
      task.metrics.push_back(topK->first);
  } else if (mse) {
    task.metrics = {"mse"};
  }
  spec.tasks.push_back(std::move(task));
}

void Parser::parseData(const Entry &top) {
  spec::Data &d = spec.data;
  d.loc = top.loc;
  d.dir = kDefaultDataDir;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  std::map<std::string, std::string *> paths = {
      {"dir", &d.dir},
      {"train_images", &d.trainImages},
      {"train_labels", &d.trainLabels},
      {"test_images", &d.testImages},
      {"test_labels", &d.testLabels},
      {"train_file", &d.trainFile},
      {"test_file", &d.testFile}};
  for (const Entry &e : entries(*t)) {
    d.keyLocs[e.key] = e.loc;
    if (e.key == "source" || e.key == "format") {
      if (e.key == "format" && t->contains("source"))
        error(e.keyLoc, "'format' and 'source' both given",
              {note("'format' is the old name of 'source': keep 'source'")});
      else if (auto s = getChoice(e, "data source", kSources))
        d.format = *s;
    } else if (paths.count(e.key)) {
      if (auto s = getNonEmptyString(e))
        *paths[e.key] = *s;
    } else if (e.key == "label_column") {
      if (e.node->is_integer()) {
        if (auto v = getInt(e, 0))
          d.labelColumn = std::to_string(*v);
      } else if (auto s = getNonEmptyString(e)) {
        d.labelColumn = *s;
      }
    } else if (e.key == "scale") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        d.scale = *v;
    } else if (e.key == "validation") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false, 1, /*hiOpen=*/true))
        d.validation = *v;
    } else if (e.key == "seed") {
      if (auto v = getInt(e, 0))
        d.seed = static_cast<uint64_t>(*v);
    } else if (e.key == "augment") {
      parseAugment(e);
    } else if (e.key == "limit_train") {
      if (auto v = getInt(e, 0))
        d.limitTrain = *v;
    } else if (e.key == "limit_test") {
      if (auto v = getInt(e, 0))
        d.limitTest = *v;
    } else {
      unknownKey(e, "[data]", kDataKeys);
    }
  }
}

void Parser::parseAugment(const Entry &top) {
  spec::Augment &a = spec.data.augment;
  a.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  for (const Entry &e : entries(*t)) {
    a.keyLocs[e.key] = e.loc;
    if (e.key == "shift" || e.key == "crop") {
      if (e.key == "crop" && t->contains("shift"))
        error(e.keyLoc, "'crop' and 'shift' both given",
              {note("they are the same: a random crop of the zero-padded "
                    "image is a random shift")});
      else if (auto v = getInt(e, 0, 1000))
        a.shift = *v;
    } else if (e.key == "flip") {
      if (auto b = getBool(e))
        a.flip = *b;
    } else if (e.key == "noise") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        a.noise = *v;
    } else if (e.key == "rotate") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false, 180, /*hiOpen=*/false))
        a.rotate = *v;
    } else {
      unknownKey(e, "[data.augment]", kAugmentKeys);
    }
  }
}

void Parser::checkData() {
  const spec::Data &d = spec.data;
  auto srcNote = [&]() {
    auto it = d.keyLocs.find("source");
    if (it == d.keyLocs.end())
      it = d.keyLocs.find("format");
    return it != d.keyLocs.end()
               ? note("data source set here", it->second)
               : note("the data source defaults to 'idx' (Fashion-MNIST)");
  };
  Names fields = sourceFields(d.format);
  for (const spec::Task &task : spec.tasks) {
    auto it = task.keyLocs.find("target");
    if (it == task.keyLocs.end() || task.target.empty() ||
        contains(fields, task.target))
      continue;
    error(it->second,
          "target " + quote(task.target) + " is not a field of data source " +
              quote(d.format),
          {note("fields of " + quote(d.format) + ": " + joinNames(fields)),
           srcNote()});
  }
  std::vector<int64_t> shape = sourceShape(d.format);
  auto squeeze = [](std::vector<int64_t> s) {
    while (s.size() > 1 && s.back() == 1)
      s.pop_back();
    return s;
  };
  if (!shape.empty() && !spec.input.shape.empty() &&
      squeeze(shape) != squeeze(spec.input.shape)) {
    auto it = spec.input.keyLocs.find("shape");
    std::string want;
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + std::to_string(shape[i]);
    error(it != spec.input.keyLocs.end() ? it->second : spec.input.loc,
          "data source " + quote(d.format) + " produces inputs of shape [" +
              want + "]",
          {note("set [input] shape = [" + want + "]"), srcNote()});
  }
  if (d.format == "multi-fashion" && d.augment.flip)
    error(d.augment.keyLocs.at("flip"),
          "'flip' does not apply to data source 'multi-fashion'",
          {note("a mirrored canvas would put the left item on the right"),
           srcNote()});
}

void Parser::parseTrain(const Entry &top) {
  spec::Train &tr = spec.train;
  tr.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  std::vector<Entry> es = entries(*t);
  bool optimizerOk = true, scheduleOk = true;
  for (const Entry &e : es) {
    tr.keyLocs[e.key] = e.loc;
    if (e.key == "lr_schedule") {
      if (auto s = getChoice(e, "lr_schedule", kLrSchedules))
        tr.lrSchedule = *s;
      else
        scheduleOk = false;
    } else if (e.key == "min_lr") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        tr.minLr = *v;
    } else if (e.key == "step_epochs") {
      if (auto v = getInt(e, 1))
        tr.stepEpochs = *v;
    } else if (e.key == "gamma") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true, 1, /*hiOpen=*/false))
        tr.gamma = *v;
    } else if (e.key == "optimizer") {
      if (auto s = getChoice(e, "optimizer", kOptimizers))
        tr.optimizer = *s;
      else
        optimizerOk = false;
    } else if (e.key == "lr") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        tr.lr = *v;
    } else if (e.key == "warmup") {
      if (auto v = getInt(e, 0, int64_t(1) << 40))
        tr.warmup = *v;
    } else if (e.key == "momentum") {
      if (auto v = getNumber(e, 0, false, 1, true))
        tr.momentum = *v;
    } else if (e.key == "beta1") {
      if (auto v = getNumber(e, 0, false, 1, true))
        tr.beta1 = *v;
    } else if (e.key == "beta2") {
      if (auto v = getNumber(e, 0, false, 1, true))
        tr.beta2 = *v;
    } else if (e.key == "eps") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        tr.eps = *v;
    } else if (e.key == "weight_decay") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        tr.weightDecay = *v;
    } else if (e.key == "batch") {
      if (auto v = getInt(e, 1, kMaxDim))
        tr.batch = *v;
    } else if (e.key == "epochs") {
      if (auto v = getInt(e, 1))
        tr.epochs = *v;
    } else if (e.key == "seed") {
      if (auto v = getInt(e, 0))
        tr.seed = static_cast<uint64_t>(*v);
    } else {
      unknownKey(e, "[train]", kTrainKeys);
    }
  }
  // Parameters of another learning-rate schedule would be silently ignored.
  if (scheduleOk) {
    DiagNote schedWhere =
        tr.keyLocs.count("lr_schedule")
            ? note("lr_schedule set here", tr.keyLocs["lr_schedule"])
            : note("lr_schedule defaults to 'constant'");
    for (const Entry &e : es) {
      std::string owner = e.key == "min_lr" ? "cosine"
                          : e.key == "step_epochs" || e.key == "gamma" ? "step"
                                                                       : "";
      if (!owner.empty() && owner != tr.lrSchedule)
        error(e.keyLoc,
              quote(e.key) + " applies to lr_schedule " + quote(owner) +
                  " only, but lr_schedule is " + quote(tr.lrSchedule),
              {schedWhere});
    }
    if (tr.lrSchedule == "cosine" && tr.minLr >= tr.lr)
      error(tr.keyLocs.count("min_lr") ? tr.keyLocs["min_lr"] : tr.loc,
            "'min_lr' (" + numStr(tr.minLr) + ") must be below lr (" +
                numStr(tr.lr) +
                "): the cosine schedule anneals from lr "
                "down to min_lr");
  }
  if (!optimizerOk)
    return;
  // Hyperparameters of the other optimizer would be silently ignored.
  DiagNote where = tr.keyLocs.count("optimizer")
                       ? note("optimizer set here", tr.keyLocs["optimizer"])
                       : note("optimizer defaults to 'adam'");
  for (const Entry &e : es) {
    std::string owner;
    if (e.key == "momentum")
      owner = "sgd";
    else if (e.key == "beta1" || e.key == "beta2" || e.key == "eps")
      owner = "adam";
    if (!owner.empty() && owner != tr.optimizer)
      error(e.keyLoc,
            quote(e.key) + " applies to optimizer " + quote(owner) +
                " only, but optimizer is " + quote(tr.optimizer),
            {where});
  }
}

void Parser::parseCompile(const Entry &top) {
  spec::Compile &c = spec.compile;
  c.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  for (const Entry &e : entries(*t)) {
    c.keyLocs[e.key] = e.loc;
    if (e.key == "target") {
      if (auto s =
              getChoice(e, "compile target", kCompileTargets, kCompileAliases))
        c.target = *s;
    } else {
      unknownKey(e, "[compile]", kCompileKeys);
    }
  }
}

void Parser::parseStrategy(const Entry &top) {
  spec::Strategy &st = spec.strategy;
  st.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  std::vector<Entry> es = entries(*t);
  bool choicesOk = true;
  for (const Entry &e : es) {
    st.keyLocs[e.key] = e.loc;
    if (e.key == "weighting") {
      if (auto s = getChoice(e, "weighting", kWeightings))
        st.weighting = *s;
      else
        choicesOk = false;
    } else if (e.key == "gradient") {
      if (auto s = getChoice(e, "gradient method", kGradientMethods))
        st.gradient = *s;
      else
        choicesOk = false;
    } else if (e.key == "on") {
      if (auto s = getChoice(e, "gradient placement", kGradientPlaces))
        st.on = *s;
    } else if (e.key == "dwa_temperature") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        st.dwaTemperature = *v;
    } else if (e.key == "gradnorm_alpha") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        st.gradnormAlpha = *v;
    } else if (e.key == "cagrad_c") {
      if (auto v = getNumber(e, 0, /*loOpen=*/false))
        st.cagradC = *v;
    } else {
      unknownKey(e, "[strategy]", kStrategyKeys);
    }
  }
  if (!choicesOk)
    return;
  // A setting of another strategy would be silently ignored.
  for (const Entry &e : es) {
    std::string key, owner, actual;
    if (e.key == "dwa_temperature")
      key = "weighting", owner = "dwa", actual = st.weighting;
    else if (e.key == "gradnorm_alpha")
      key = "weighting", owner = "gradnorm", actual = st.weighting;
    else if (e.key == "cagrad_c")
      key = "gradient", owner = "cagrad", actual = st.gradient;
    else if (e.key == "on" && st.gradient == "none")
      key = "gradient", owner = "a gradient method", actual = "none";
    if (key.empty() || owner == actual)
      continue;
    bool isMethod = owner == "a gradient method";
    error(e.keyLoc,
          quote(e.key) + " applies to " +
              (isMethod ? owner : key + " " + quote(owner)) + " only, but " +
              key + " is " + quote(actual),
          {st.keyLocs.count(key)
               ? note(key + " set here", st.keyLocs[key])
               : note(key + " defaults to " + quote(actual))});
  }
}

std::string Parser::describe(const Def &d) const {
  switch (d.kind) {
  case Def::Input:
    return "the input";
  case Def::Backbone:
    return "a backbone layer";
  case Def::Head:
    return "a layer of task " + quote(spec.tasks[d.task].name);
  }
  return "";
}

void Parser::resolveNames() {
  std::map<std::string, Def> defs;
  auto nameLoc = [](const auto &x) {
    auto it = x.keyLocs.find("name");
    return it != x.keyLocs.end() ? it->second : x.loc;
  };
  defs[spec.input.name] = {Def::Input, 0, 0, nameLoc(spec.input)};
  auto define = [&](const spec::Layer &l, Def d) {
    auto [it, fresh] = defs.insert({l.name, d});
    if (fresh)
      return;
    std::string msg = l.keyLocs.count("name")
                          ? "duplicate layer name " + quote(l.name)
                          : "layer name " + quote(l.name) +
                                " (generated for this unnamed layer) is "
                                "already in use";
    std::string prev = it->second.kind == Def::Input
                           ? quote(l.name) + " is the name of the input"
                           : quote(l.name) + " is first defined here";
    error(d.loc, msg, {note(prev, it->second.loc)});
  };
  for (size_t i = 0; i < spec.backbone.size(); ++i)
    define(spec.backbone[i], {Def::Backbone, 0, i, nameLoc(spec.backbone[i])});
  for (size_t t = 0; t < spec.tasks.size(); ++t)
    for (size_t i = 0; i < spec.tasks[t].head.size(); ++i)
      define(spec.tasks[t].head[i],
             {Def::Head, t, i, nameLoc(spec.tasks[t].head[i])});

  qualifyRefs(defs);
  for (size_t i = 0; i < spec.backbone.size(); ++i)
    checkLayerRefs(spec.backbone[i], {Def::Backbone, 0, i, {}}, defs);
  for (size_t t = 0; t < spec.tasks.size(); ++t) {
    const spec::Task &task = spec.tasks[t];
    for (size_t i = 0; i < task.head.size(); ++i)
      checkLayerRefs(task.head[i], {Def::Head, t, i, {}}, defs);
    for (const char *key : {"mean", "logvar"}) {
      const std::string &ref = key[0] == 'm' ? task.mean : task.logvar;
      if (ref.empty())
        continue;
      const SourceLoc &loc = task.keyLocs.at(key);
      auto it = defs.find(ref);
      if (it == defs.end()) {
        Names known;
        for (const spec::Layer &l : spec.backbone)
          known.push_back(l.name);
        std::string msg =
            "task " + quote(task.name) + " reads unknown layer " + quote(ref);
        if (auto s = suggestName(ref, known))
          msg += "; did you mean " + quote(*s) + "?";
        error(loc, msg, {note(quote(key) + " names a backbone layer")});
      } else if (it->second.kind == Def::Head) {
        error(loc,
              "task " + quote(task.name) + " reads " + quote(ref) + ", " +
                  describe(it->second) + "; " + quote(key) +
                  " must name a backbone layer",
              {note(quote(ref) + " is defined here", it->second.loc)});
      }
    }
    if (task.from.empty())
      continue;
    const SourceLoc &loc = task.keyLocs.at("from");
    std::string who = "task " + quote(task.name);
    auto it = defs.find(task.from);
    if (it == defs.end()) {
      Names known;
      for (const spec::Layer &l : spec.backbone)
        known.push_back(l.name);
      for (const spec::Task &o : spec.tasks)
        if (&o != &task)
          for (const spec::Layer &l : o.head)
            known.push_back(l.name);
      std::string msg = who + " reads unknown layer " + quote(task.from);
      if (auto s = suggestName(task.from, known))
        msg += "; did you mean " + quote(*s) + "?";
      error(loc, msg,
            {note("'from' names a backbone layer, the input or a layer of "
                  "another task's head")});
    } else if (it->second.kind == Def::Head && it->second.task == t) {
      error(loc,
            who + " reads " + quote(task.from) +
                ", a layer of its own head; 'from' names what the head "
                "starts from",
            {note(quote(task.from) + " is defined here", it->second.loc)});
    }
  }
  checkHeadCycles(defs);
}

bool Parser::qualifyRef(std::string &ref, const SourceLoc &loc,
                        const std::map<std::string, Def> &defs) {
  size_t dot = ref.find('.');
  if (dot == std::string::npos)
    return true;
  std::string task = ref.substr(0, dot), layer = ref.substr(dot + 1);
  auto t = std::find_if(spec.tasks.begin(), spec.tasks.end(),
                        [&](const spec::Task &x) { return x.name == task; });
  if (t == spec.tasks.end()) {
    Names tasks;
    for (const spec::Task &x : spec.tasks)
      tasks.push_back(x.name);
    std::string msg =
        "reference " + quote(ref) + " names unknown task " + quote(task);
    if (auto s = suggestName(task, tasks))
      msg += "; did you mean " + quote(*s) + "?";
    error(loc, msg,
          {note("write \"TASK.LAYER\" for a layer of another task's head")});
    return false;
  }
  auto it = defs.find(layer);
  size_t ti = static_cast<size_t>(t - spec.tasks.begin());
  if (it == defs.end() || it->second.kind != Def::Head ||
      it->second.task != ti) {
    Names known;
    for (const spec::Layer &l : t->head)
      known.push_back(l.name);
    std::string msg =
        "task " + quote(task) + " has no head layer " + quote(layer);
    if (auto s = suggestName(layer, known))
      msg += "; did you mean " + quote(task + "." + *s) + "?";
    error(loc, msg,
          {note("layers of task " + quote(task) + ": " + joinNames(known))});
    return false;
  }
  ref = layer;
  return true;
}

void Parser::qualifyRefs(const std::map<std::string, Def> &defs) {
  auto fix = [&](spec::Layer &l) {
    for (size_t k = 0; k < l.inputs.size(); ++k)
      if (!qualifyRef(l.inputs[k], l.inputLocs[k], defs))
        l.inputs[k] = spec.input.name; // reported; avoid follow-on errors
  };
  for (spec::Layer &l : spec.backbone)
    fix(l);
  for (spec::Task &task : spec.tasks) {
    for (spec::Layer &l : task.head)
      fix(l);
    if (!task.from.empty() &&
        !qualifyRef(task.from, task.keyLocs.at("from"), defs))
      task.from.clear();
  }
}

void Parser::checkHeadCycles(const std::map<std::string, Def> &defs) {
  // Edges from each head layer to the head layers it reads, with where the
  // read is written (an `input` entry, the task's `from`, or the layer's
  // table for the implicit previous layer). Backbone layers read only
  // earlier backbone layers, so every cycle runs through heads.
  struct Edge {
    std::string to;
    SourceLoc loc;
  };
  std::map<std::string, std::vector<Edge>> edges;
  std::map<std::string, std::string> owner; // head layer -> task
  for (const spec::Task &task : spec.tasks)
    for (size_t i = 0; i < task.head.size(); ++i) {
      const spec::Layer &l = task.head[i];
      owner[l.name] = task.name;
      std::vector<Edge> &out = edges[l.name];
      for (size_t k = 0; k < l.inputs.size(); ++k)
        out.push_back({l.inputs[k], l.inputLocs[k]});
      if (!l.inputs.empty())
        continue;
      if (i > 0)
        out.push_back({task.head[i - 1].name, l.loc});
      else if (!task.from.empty())
        out.push_back({task.from, task.keyLocs.at("from")});
    }
  std::map<std::string, int> state; // 0 new, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::function<bool(const std::string &)> visit =
      [&](const std::string &n) -> bool {
    state[n] = 1;
    stack.push_back(n);
    for (const Edge &e : edges[n]) {
      auto d = defs.find(e.to);
      if (d == defs.end() || d->second.kind != Def::Head)
        continue;
      if (state[e.to] == 1) {
        // The cycle: e.to ... n -> e.to.
        auto from = std::find(stack.begin(), stack.end(), e.to);
        std::string path;
        for (auto it = from; it != stack.end(); ++it)
          path += quote(owner[*it] + "." + *it) + " -> ";
        path += quote(owner[e.to] + "." + e.to);
        error(e.loc,
              "layer " + quote(n) + " of task " + quote(owner[n]) + " reads " +
                  quote(e.to) + " of task " + quote(owner[e.to]) +
                  ", which depends on it: the heads "
                  "form a cycle",
              {note("cycle: " + path)});
        return true;
      }
      if (state[e.to] == 0 && visit(e.to))
        return true;
    }
    stack.pop_back();
    state[n] = 2;
    return false;
  };
  for (const spec::Task &task : spec.tasks)
    for (const spec::Layer &l : task.head)
      if (state[l.name] == 0 && visit(l.name)) {
        // One cycle is enough to reject the spec; keep the rest quiet.
        return;
      }
}

void Parser::checkLayerRefs(const spec::Layer &l, const Def &self,
                            const std::map<std::string, Def> &defs) {
  std::string who = "layer " + quote(l.name);
  for (size_t k = 0; k < l.inputs.size(); ++k) {
    const std::string &ref = l.inputs[k];
    const SourceLoc &loc = l.inputLocs[k];
    auto it = defs.find(ref);
    if (it == defs.end()) {
      // Suggest among what this layer may read.
      Names known = {spec.input.name};
      for (const spec::Layer &b : spec.backbone)
        known.push_back(b.name);
      if (self.kind == Def::Head)
        for (const spec::Task &task : spec.tasks)
          for (const spec::Layer &h : task.head)
            known.push_back(h.name);
      std::string msg = who + " reads unknown layer " + quote(ref);
      if (auto s = suggestName(ref, known))
        msg += "; did you mean " + quote(*s) + "?";
      error(loc, msg);
      continue;
    }
    const Def &d = it->second;
    if (d.kind == Def::Input)
      continue;
    bool sameList = d.kind == self.kind && d.task == self.task;
    if (sameList && d.index == self.index) {
      error(loc, who + " reads itself");
    } else if (sameList && d.index > self.index) {
      error(loc, who + " reads " + quote(ref) + ", which is defined after it",
            {note(quote(ref) + " is defined here", d.loc)});
    } else if (self.kind == Def::Backbone && d.kind == Def::Head) {
      error(loc,
            "backbone " + who + " reads " + quote(ref) + ", " + describe(d) +
                "; the backbone cannot read a head",
            {note(quote(ref) + " is defined here", d.loc)});
    }
    // A head may read another head's layer (any order): checkHeadCycles
    // rejects cycles.
  }
}

} // namespace

std::optional<spec::Spec> parseSpecString(const std::string &text,
                                          const std::string &path,
                                          DiagnosticEngine &diags) {
  toml::parse_result r =
      toml::parse(std::string_view(text), std::string_view(path));
  if (!r) {
    const toml::parse_error &e = r.error();
    // toml++ says "Error while parsing <construct>: <problem>".
    std::string desc(e.description());
    const std::string prefix = "Error while parsing ";
    std::string msg = desc.rfind(prefix, 0) == 0
                          ? "TOML syntax error in " + desc.substr(prefix.size())
                          : "TOML syntax error: " + desc;
    diags.error({path, static_cast<int>(e.source().begin.line),
                 static_cast<int>(e.source().begin.column)},
                msg);
    return std::nullopt;
  }
  Parser parser(path);
  std::optional<spec::Spec> spec = parser.parse(r.table());
  for (Diagnostic &d : parser.takeDiagnostics())
    diags.report(std::move(d));
  return spec;
}

std::optional<spec::Spec> parseSpecFile(const std::string &path,
                                        DiagnosticEngine &diags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.error({path, 0, 0},
                std::string("cannot read spec file: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseSpecString(text.str(), path, diags);
}

} // namespace mtl
