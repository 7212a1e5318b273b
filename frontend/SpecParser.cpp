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
#include <set>
#include <sstream>

namespace mtl {
namespace {

using spec::SourceLoc;
using Names = std::vector<std::string>;
using Aliases = std::map<std::string, std::string>;

// The vocabulary of DSL v0 (docs/dsl.md).
const Names kTopKeys = {"model", "input", "backbone", "tasks",
                        "data",  "train", "compile"};
const Names kModelKeys = {"name"};
const Names kInputKeys = {"name", "shape"};
const Names kOps = {"dense", "conv2d", "relu", "max_pool", "flatten"};
const Names kCommonLayerKeys = {"name", "op", "input"};
const std::map<std::string, Names> kOpKeys = {
    {"dense", {"units", "bias"}},
    {"conv2d", {"filters", "kernel", "stride", "padding", "bias"}},
    {"relu", {}},
    {"max_pool", {"kernel", "stride"}},
    {"flatten", {}}};
const Names kAllLayerKeys = {"name",   "op",     "input",   "units", "filters",
                             "kernel", "stride", "padding", "bias"};
const Names kTaskKeys = {"from",    "loss",   "target", "target_map",
                         "metrics", "weight", "head"};
const Names kLosses = {"softmax_cross_entropy", "mse"};
const Names kTargets = {"label", "image"};
const Names kMetrics = {"accuracy", "mse"};
const Names kDataKeys = {"format",       "dir",         "train_images",
                         "train_labels", "test_images", "test_labels",
                         "limit_train",  "limit_test"};
const Names kFormats = {"idx"};
const Names kTrainKeys = {"optimizer", "lr",  "momentum",     "beta1",
                          "beta2",     "eps", "weight_decay", "batch",
                          "epochs",    "seed"};
const Names kOptimizers = {"sgd", "adam"};
const Names kCompileKeys = {"target"};
const Names kCompileTargets = {"cpu", "cuda"};

// Names from other frameworks that edit distance would not find.
const Aliases kOpAliases = {{"fc", "dense"},         {"linear", "dense"},
                            {"conv", "conv2d"},      {"convolution", "conv2d"},
                            {"maxpool", "max_pool"}, {"maxpool2d", "max_pool"},
                            {"pool", "max_pool"},    {"reshape", "flatten"}};
const Aliases kLossAliases = {
    {"ce", "softmax_cross_entropy"},
    {"cross_entropy", "softmax_cross_entropy"},
    {"crossentropy", "softmax_cross_entropy"},
    {"categorical_crossentropy", "softmax_cross_entropy"},
    {"softmax", "softmax_cross_entropy"},
    {"nll", "softmax_cross_entropy"},
    {"l2", "mse"},
    {"mean_squared_error", "mse"}};
const Aliases kTargetAliases = {
    {"class", "label"}, {"labels", "label"}, {"input", "image"}};
const Aliases kMetricAliases = {{"acc", "accuracy"}, {"top1", "accuracy"}};
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
  void parseTrain(const Entry &top);
  void parseCompile(const Entry &top);
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
      if (auto v = getInts(e, 3, 1, "[H, W, C]", /*allowScalar=*/false))
        in.shape = *v;
    } else {
      unknownKey(e, "[input]", kInputKeys);
    }
  }
  if (!in.keyLocs.count("shape") && !misspelt(t, "shape"))
    error(top.loc, "[input] has no 'shape'",
          {note("add shape = [H, W, C], e.g. [28, 28, 1]")});
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
    }
  }
  if (!opKnown)
    return l;

  auto require = [&](const char *key, const std::string &hint) {
    if (!l.keyLocs.count(key) && !misspelt(&t, key))
      error(l.loc, l.op + " layer " + quote(l.name) + " has no " + quote(key),
            {note(hint)});
  };
  if (l.op == "dense") {
    require("units", "'units' is the number of outputs, e.g. units = 128");
  } else if (l.op == "conv2d") {
    require("filters", "'filters' is the number of output channels");
    require("kernel", "'kernel' is the window size, e.g. kernel = 3");
    if (!stride)
      l.stride = {1, 1};
    if (samePadding && !l.kernel.empty()) {
      if (l.kernel[0] % 2 == 0 || l.kernel[1] % 2 == 0)
        error(padding->loc, "padding = \"same\" needs an odd kernel",
              {note("kernel given here", kernel->loc)});
      else
        l.padding = {l.kernel[0] / 2, l.kernel[1] / 2};
    }
    if (!padding)
      l.padding = {0, 0};
  } else if (l.op == "max_pool") {
    if (!kernel)
      l.kernel = {2, 2};
    if (!stride)
      l.stride = l.kernel;
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
  // Every v0 op reads one tensor; multi-input ops (concat, add) come later.
  if (opKnown && l.inputs.size() > 1)
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
        } else if (!contains(kMetrics, s->get())) {
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
  if (!targetE && !misspelt(t, "target"))
    error(task.loc, what + " has no 'target'",
          {note("valid targets: " + joinNames(kTargets))});
  if (!task.keyLocs.count("head") && !misspelt(t, "head"))
    error(task.loc, what + " has no 'head'",
          {note("add its layers as [[tasks." + task.name + ".head]] tables")});

  // Combinations, judged only when both sides are valid.
  bool ce = task.loss == "softmax_cross_entropy", mse = task.loss == "mse";
  if (mse && task.target == "label")
    error(lossE->loc,
          "loss 'mse' needs a float target, but target = \"label\" gives "
          "class ids",
          {note("use target = \"image\", or loss = \"softmax_cross_entropy\" "
                "for classification",
                targetE->loc)});
  if (ce && task.target == "image")
    error(lossE->loc,
          "loss 'softmax_cross_entropy' needs class ids, but target = "
          "\"image\" is a float tensor",
          {note("use target = \"label\", or loss = \"mse\" for regression",
                targetE->loc)});
  if (mapE && !task.target.empty() && task.target != "label")
    error(mapE->loc, "'target_map' needs target = \"label\"",
          {note("target is '" + task.target + "' here", targetE->loc)});
  for (const auto &[m, loc] : metrics) {
    if (m == "accuracy" && mse)
      error(loc, "metric 'accuracy' needs loss 'softmax_cross_entropy'",
            {note("use metrics = [\"mse\"] with loss 'mse'")});
    if (m == "mse" && ce)
      error(loc, "metric 'mse' needs loss 'mse'",
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
      {"test_labels", &d.testLabels}};
  for (const Entry &e : entries(*t)) {
    d.keyLocs[e.key] = e.loc;
    if (e.key == "format") {
      if (auto s = getChoice(e, "format", kFormats))
        d.format = *s;
    } else if (paths.count(e.key)) {
      if (auto s = getNonEmptyString(e))
        *paths[e.key] = *s;
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

void Parser::parseTrain(const Entry &top) {
  spec::Train &tr = spec.train;
  tr.loc = top.loc;
  const toml::table *t = getTable(top);
  if (!t)
    return;
  std::vector<Entry> es = entries(*t);
  bool optimizerOk = true;
  for (const Entry &e : es) {
    tr.keyLocs[e.key] = e.loc;
    if (e.key == "optimizer") {
      if (auto s = getChoice(e, "optimizer", kOptimizers))
        tr.optimizer = *s;
      else
        optimizerOk = false;
    } else if (e.key == "lr") {
      if (auto v = getNumber(e, 0, /*loOpen=*/true))
        tr.lr = *v;
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

  for (size_t i = 0; i < spec.backbone.size(); ++i)
    checkLayerRefs(spec.backbone[i], {Def::Backbone, 0, i, {}}, defs);
  for (size_t t = 0; t < spec.tasks.size(); ++t) {
    const spec::Task &task = spec.tasks[t];
    for (size_t i = 0; i < task.head.size(); ++i)
      checkLayerRefs(task.head[i], {Def::Head, t, i, {}}, defs);
    if (task.from.empty())
      continue;
    const SourceLoc &loc = task.keyLocs.at("from");
    std::string who = "task " + quote(task.name);
    auto it = defs.find(task.from);
    if (it == defs.end()) {
      Names known;
      for (const spec::Layer &l : spec.backbone)
        known.push_back(l.name);
      std::string msg = who + " reads unknown layer " + quote(task.from);
      if (auto s = suggestName(task.from, known))
        msg += "; did you mean " + quote(*s) + "?";
      error(loc, msg, {note("'from' names a backbone layer")});
    } else if (it->second.kind == Def::Head) {
      error(loc,
            who + " reads " + quote(task.from) + ", " + describe(it->second) +
                "; 'from' must name a backbone layer",
            {note(quote(task.from) + " is defined here", it->second.loc)});
    }
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
        for (const spec::Layer &h : spec.tasks[self.task].head)
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
    } else if (self.kind == Def::Head && d.kind == Def::Head &&
               d.task != self.task) {
      error(loc,
            who + " of task " + quote(spec.tasks[self.task].name) + " reads " +
                quote(ref) + ", " + describe(d) +
                "; a head may read only the backbone and its own layers",
            {note(quote(ref) + " is defined here", d.loc)});
    }
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
