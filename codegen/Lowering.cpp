//===- Lowering.cpp - kg::Function -> Halide pipeline --------------------===//
//
// Arguments become ImageParams with constant bounds and dense strides, each
// node becomes the Func(s) of its op class (ops/*.cpp), outputs get the same
// constraints so every loop has constant extents.
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"
#include "codegen/AutoSchedule.h"
#include "codegen/Isa.h"
#include "codegen/Segments.h"

#include <algorithm>
#include <cctype>
#include <set>

using namespace Halide;

namespace mtl::codegen {

std::string OpContext::name(const std::string &suffix) const {
  return "n" + std::to_string(node.result) + "_" + node.op + "_" + suffix;
}

std::vector<int64_t> OpContext::ints(const std::string &key, size_t n,
                                     std::vector<int64_t> def) const {
  auto it = node.ints.find(key);
  if (it == node.ints.end()) {
    if (def.size() == n)
      return def;
    throw LoweringError{"missing integer attribute '" + key + "'"};
  }
  if (it->second.size() != n)
    throw LoweringError{"attribute '" + key + "' needs " + std::to_string(n) +
                        " values"};
  return it->second;
}

double OpContext::floatAttr(const std::string &key, double def) const {
  auto it = node.floats.find(key);
  return it == node.floats.end() ? def : it->second;
}

const OpTable &opTable() {
  static const OpTable table = [] {
    OpTable t;
    registerConvOps(t);
    registerDenseOps(t);
    registerPoolOps(t);
    registerElementwiseOps(t);
    registerLossOps(t);
    registerCnnOps(t);
    registerBoxLossOps(t);
    registerRecurrentOps(t);
    registerTrainModeOps(t);
    registerStrategyOps(t);
    return t;
  }();
  return table;
}

const EpilogueTable &epilogueTable() {
  static const EpilogueTable table = [] {
    EpilogueTable t;
    registerElementwiseEpilogues(t);
    registerActivationEpilogues(t);
    registerTrainModeEpilogues(t);
    return t;
  }();
  return table;
}

std::string sanitize(const std::string &s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "_" + out;
  return out;
}

/// Whether `f` is the Func created as `Func(name)`: Halide renames a Func
/// whose name another one in the process already has (`name$1`, ...), and
/// mtlc build lowers each step function whole before its segments, so a
/// segment's output Funcs are renamed. Comparing names exactly took them
/// for passed-through values and copied each (layer 2's 13 MB batch-norm
/// grad-input, written and then copied, in every train step).
bool namedAfter(const Func &f, const std::string &name) {
  const std::string &n = f.name();
  if (n.compare(0, name.size(), name) != 0)
    return false;
  if (n.size() == name.size())
    return true;
  return n[name.size()] == '$' && n.size() > name.size() + 1 &&
         std::all_of(n.begin() + name.size() + 1, n.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c));
         });
}

Target chooseTarget(const std::string &kind, const std::string &override) {
  if (kind != "cpu" && kind != "cuda")
    throw LoweringError{"unknown target '" + kind + "' (expected cpu or cuda)"};
  Target t;
  if (!override.empty()) {
    if (!Target::validate_target_string(override))
      throw LoweringError{"invalid Halide target '" + override + "'"};
    t = Target(override);
  } else {
    t = get_host_target();
    // The detected Zen 4 target claims Sapphire Rapids, which lets LLVM emit
    // AMX; name the AVX-512 features explicitly instead (same fp32 speed).
    if (t.has_feature(Target::AVX512_Skylake))
      t = isaTarget("avx512");
  }
  if (kind == "cuda" && !t.has_feature(Target::CUDA))
    t = t.with_feature(Target::CUDA).with_feature(Target::CUDACapability86);
  return t;
}

static Type halideType(kg::DType t) {
  return t == kg::DType::I32  ? Int(32)
         : t == kg::DType::I8 ? Int(8)
                              : Float(32);
}

std::vector<Argument> LoweredFunction::arguments() const {
  return std::vector<Argument>(params.begin(), params.end());
}

/// Alignment in bytes of every buffer a pipeline takes (the runtime's
/// AlignedVector and Halide::Runtime::Buffer both give 128).
static constexpr int kHostAlignment = 128;

/// Constant bounds and dense strides for a rank-r tensor's dims.
template <typename DimFn>
static void constrain(const std::vector<int64_t> &shape, DimFn dim) {
  int r = static_cast<int>(shape.size());
  int stride = 1;
  for (int i = 0; i < r; ++i) {
    int e = hdim(shape, i);
    dim(i).set_bounds(0, e).set_stride(stride);
    stride *= e;
  }
}

LoweredFunction lowerFunction(const kg::Function &fn, const Target &target,
                              const std::string &autoscheduler) {
  const bool gpu = target.has_gpu_feature();
  IsaScope isaScope(target); // the register tiles of the op schedules
  const int nv = static_cast<int>(fn.values.size());
  auto checkId = [&](int id, const std::string &what) {
    if (id < 0 || id >= nv)
      throw LoweringError{"function '" + fn.name + "': " + what +
                          " refers to value " + std::to_string(id) +
                          " out of range"};
  };

  std::set<std::string> used;
  auto unique = [&](std::string n) {
    n = sanitize(n);
    std::string u = n;
    for (int k = 2; used.count(u); ++k)
      u = n + "_" + std::to_string(k);
    used.insert(u);
    return u;
  };

  LoweredFunction lf;
  std::vector<Func> vals(nv);
  std::vector<bool> defined(nv, false);
  for (const kg::Arg &a : fn.args) {
    checkId(a.value, "argument '" + a.name + "'");
    const kg::Value &val = fn.values[a.value];
    ImageParam p(halideType(val.dtype), static_cast<int>(val.shape.size()),
                 unique(std::string(kg::toString(a.kind)) + "_" + a.name));
    constrain(val.shape, [&](int i) { return p.dim(i); });
    // The runtime aligns every buffer; saying so lets Halide use aligned
    // vector loads, and makes it check (not crash) when a caller does not.
    p.set_host_alignment(kHostAlignment);
    lf.params.push_back(p);
    vals[a.value] = Func(p);
    defined[a.value] = true;
  }

  // A node result that is an output is named after it (first use only).
  std::map<int, std::string> outName;
  std::vector<std::string> outNames;
  for (const kg::Arg &o : fn.outputs) {
    checkId(o.value, "output '" + o.name + "'");
    outNames.push_back(
        unique(std::string(kg::toString(o.kind)) + "_" + o.name));
    if (!outName.count(o.value) && !defined[o.value])
      outName[o.value] = outNames.back();
  }

  // Epilogue fusion (mtl-fuse-epilogue): a node marked `mtl.fused_epilogue`
  // whose first input is the only use of a product's result (conv2d, dense,
  // conv_transpose2d, a batch-norm apply, max_pool, max_pool_grad; or of a
  // previous fused epilogue) is computed inside
  // the product: the product's lowering applies it before the store, and
  // the product's Func becomes the epilogue's result. Anything else the
  // annotation might claim is checked here: a mark that cannot be honoured
  // just leaves the node a separate stage.
  const int nn = static_cast<int>(fn.nodes.size());
  std::vector<std::vector<int>> readers(nv); // node indices reading a value
  std::vector<int> outputUses(nv, 0), defNode(nv, -1);
  for (int k = 0; k < nn; ++k) {
    for (int in : fn.nodes[k].inputs)
      if (in >= 0 && in < nv)
        readers[in].push_back(k);
    if (fn.nodes[k].result >= 0 && fn.nodes[k].result < nv)
      defNode[fn.nodes[k].result] = k;
  }
  for (const kg::Arg &o : fn.outputs)
    if (o.value >= 0 && o.value < nv)
      ++outputUses[o.value];
  static const std::set<std::string> kEpilogueProducers = {
      "conv2d",     "dense",    "conv_transpose2d", "batch_norm_train",
      "batch_norm", "max_pool", "max_pool_grad"};
  const EpilogueTable &epilogues = epilogueTable();
  // The chain of epilogue nodes fused into node k (empty: none).
  auto epilogueChain = [&](int k) {
    std::vector<int> chain;
    if (!kEpilogueProducers.count(fn.nodes[k].op))
      return chain;
    int cur = fn.nodes[k].result;
    while (cur >= 0 && cur < nv && outputUses[cur] == 0 &&
           readers[cur].size() == 1) {
      const kg::Node &c = fn.nodes[readers[cur].front()];
      if (!c.ints.count("mtl.fused_epilogue") || !epilogues.count(c.op) ||
          c.inputs.empty() || c.inputs[0] != cur ||
          fn.values[c.result].shape != fn.values[cur].shape)
        break;
      bool ready = true; // other inputs computed before the producer
      for (size_t q = 1; q < c.inputs.size(); ++q)
        ready = ready && c.inputs[q] >= 0 && c.inputs[q] < nv &&
                defNode[c.inputs[q]] < k;
      if (!ready)
        break;
      chain.push_back(readers[cur].front());
      cur = c.result;
    }
    return chain;
  };
  std::vector<bool> fusedAway(nn, false);
  std::map<std::string, Func> shared; // loss fusion's shared stages
  Staging staging;                    // recomputed producers (CPU)

  const OpTable &table = opTable();
  for (int k = 0; k < nn; ++k) {
    const kg::Node &node = fn.nodes[k];
    if (fusedAway[k])
      continue; // computed inside its producer
    std::string where = node.loc.empty() ? fn.name : node.loc;
    auto it = table.find(node.op);
    if (it == table.end())
      throw LoweringError{where + ": error: codegen has no lowering for op '" +
                          node.op + "'"};
    checkId(node.result, "op '" + node.op + "' result");
    if (defined[node.result])
      throw LoweringError{where + ": error: value " +
                          std::to_string(node.result) + " defined twice"};
    OpContext ctx{fn, node, {},    {}, fn.values[node.result].shape,
                  "", gpu,  target};
    for (int in : node.inputs) {
      checkId(in, "op '" + node.op + "' input");
      if (!defined[in])
        throw LoweringError{where + ": error: op '" + node.op +
                            "' reads value " + std::to_string(in) +
                            " before it is defined"};
      ctx.inputs.push_back(vals[in]);
      ctx.inputShapes.push_back(fn.values[in].shape);
    }
    ctx.shared = &shared;
    ctx.staging = gpu ? nullptr : &staging;
    std::vector<int> chain = epilogueChain(k);
    // Inline only a value no output and nothing outside the chain needs
    // stored (otherwise the mark is ignored: computed at root, as usual).
    if (node.ints.count("mtl.inline") && isInlinable(node.op)) {
      int v = chain.empty() ? node.result : fn.nodes[chain.back()].result;
      ctx.inlined = outputUses[v] == 0;
    }
    // The Func holds the last fused epilogue's value: named after it.
    const kg::Node &last = chain.empty() ? node : fn.nodes[chain.back()];
    auto on = outName.find(last.result);
    ctx.resultName =
        on != outName.end()
            ? on->second
            : unique("v" + std::to_string(last.result) + "_" + last.op);
    std::vector<OpContext> consumers;
    for (int c : chain) {
      const kg::Node &cn = fn.nodes[c];
      OpContext cc{fn, cn, {}, {}, fn.values[cn.result].shape, "", gpu, target};
      cc.shared = &shared; // per-channel stages computed once (batch_norm)
      for (int in : cn.inputs) {
        cc.inputs.push_back(vals[in]); // [0] undefined: the producer's value
        cc.inputShapes.push_back(fn.values[in].shape);
      }
      consumers.push_back(cc);
    }
    if (!chain.empty())
      ctx.epilogue = [consumers, &epilogues](Expr v,
                                             const std::vector<Expr> &at) {
        for (const OpContext &c : consumers) {
          try {
            v = epilogues.at(c.node.op)(c, v, at);
          } catch (const LoweringError &e) { // its own op and location
            throw LoweringError{
                "its epilogue '" + c.node.op + "'" +
                (c.node.loc.empty() ? "" : " at " + c.node.loc) + ": " +
                e.message};
          }
        }
        return v;
      };
    try {
      vals[last.result] = it->second(ctx);
    } catch (const LoweringError &e) {
      throw LoweringError{where + ": error: op '" + node.op +
                          "': " + e.message};
    }
    // The fused values before the last are never materialized.
    defined[last.result] = true;
    for (int c : chain)
      fusedAway[c] = true;
  }

  stageRecomputedProducers(staging);

  for (size_t k = 0; k < fn.outputs.size(); ++k) {
    int id = fn.outputs[k].value;
    if (!defined[id])
      throw LoweringError{"function '" + fn.name + "': output '" +
                          fn.outputs[k].name + "' is never computed"};
    const std::vector<int64_t> &shape = fn.values[id].shape;
    Func f = vals[id];
    if (!namedAfter(f, outNames[k])) {
      // An argument passed through, or a value output twice: copy it.
      std::vector<Var> v = makeVars(static_cast<int>(shape.size()));
      Func copy(outNames[k]);
      copy(v) = call(f, asExprs(v));
      scheduleElementwise(copy, v, shape, gpu);
      f = copy;
    }
    constrain(shape, [&](int i) { return f.output_buffer().dim(i); });
    f.output_buffer().set_host_alignment(kHostAlignment);
    lf.outputs.push_back(f);
  }
  lf.pipeline = Pipeline(lf.outputs);
  if (!autoscheduler.empty())
    autoSchedule(lf, fn, target, autoscheduler);
  return lf;
}

} // namespace mtl::codegen
