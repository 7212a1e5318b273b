//===- Segments.cpp - Split a step function, generate its entry point ----===//
#include "codegen/Segments.h"
#include "codegen/Flops.h"
#include "codegen/SmallUnits.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace mtl::codegen {
namespace {

/// Halide dims of a logical row-major shape: innermost (last) first.
std::vector<std::pair<int64_t, int64_t>>
extentsAndStrides(const std::vector<int64_t> &shape) {
  std::vector<std::pair<int64_t, int64_t>> d;
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    d.push_back({shape[i], stride});
    stride *= shape[i];
  }
  return d;
}

} // namespace

bool hasClosedFormTotal(const kg::Function &fn, const kg::Node &node) {
  if (node.ints.count("mtl.closed_total"))
    return true;
  if (node.op != "batch_norm_backward_input" || node.inputs.size() != 6)
    return false;
  auto producedBy = [&](int value, const char *op, int from) {
    const kg::Node *n = kg::producerOf(fn, value);
    return n && n->op == op && n->inputs == std::vector<int>{from};
  };
  return producedBy(node.inputs[5], "bias_grad", node.inputs[0]) &&
         producedBy(node.inputs[2], "batch_stats", node.inputs[1]);
}

bool isInlinable(const std::string &op) {
  return op == "max_pool_grad" || op == "batch_norm_train" ||
         op == "dense_backward_input" || op == "upsample_nearest" ||
         op == "conv2d" || op == "batch_norm_backward_input" ||
         op == "conv2d_backward_input";
}

SegmentedFunction segmentFunction(const kg::Function &fn, bool inlining,
                                  bool mergeSmall) {
  const int n = static_cast<int>(fn.nodes.size());
  const int nv = static_cast<int>(fn.values.size());
  std::vector<int> defNode(nv, -1);
  for (int k = 0; k < n; ++k)
    defNode[fn.nodes[k].result] = k;

  // Units of nodes that must share a pipeline: a fused epilogue and its
  // producer (codegen computes it in the producer's loops); the ops of one
  // loss-fusion group (they share stages); a batch norm's dgamma and the
  // dbeta over the same dy (one pass computes both sums), and its input
  // gradient and the bias_grad of it (summed in closed form): the totals
  // of ops/TrainMode.cpp. Union-find over nodes.
  std::vector<int> parent(n);
  for (int k = 0; k < n; ++k)
    parent[k] = k;
  std::function<int(int)> root = [&](int k) {
    return parent[k] == k ? k : parent[k] = root(parent[k]);
  };
  auto unite = [&](int a, int b) { parent[root(a)] = root(b); };
  std::map<int64_t, int> lossGroup; // id -> a member
  std::map<int, int> totals;        // value -> the node that knows its total
  for (int k = 0; k < n; ++k) {
    const kg::Node &node = fn.nodes[k];
    if (node.op == "batch_norm_grad_gamma" && !node.inputs.empty())
      totals[node.inputs[0]] = k;
    if (hasClosedFormTotal(fn, node))
      totals[node.result] = k;
  }
  for (int k = 0; k < n; ++k) {
    const kg::Node &node = fn.nodes[k];
    if (node.op == "bias_grad" && node.inputs.size() == 1)
      if (auto t = totals.find(node.inputs[0]); t != totals.end())
        unite(t->second, k);
    if (node.ints.count("mtl.fused_epilogue") && !node.inputs.empty() &&
        defNode[node.inputs[0]] >= 0)
      unite(defNode[node.inputs[0]], k);
    // A max_pool_argmax and the max_pool of the same windows: one pass
    // over them (ops/FirstLayerPool.cpp).
    if (node.op == "max_pool_argmax")
      if (const kg::Node *pool = kg::poolOfArgmax(fn, node))
        unite(static_cast<int>(pool - fn.nodes.data()), k);
    auto g = node.ints.find("mtl.loss_group");
    if (g != node.ints.end() && !g->second.empty()) {
      auto [it, fresh] = lossGroup.insert({g->second[0], k});
      if (!fresh)
        unite(it->second, k);
    }
  }
  // Input-side fusion: a max_pool_grad (and its fused relu_grad) read only
  // by streaming passes over its result -- the batch-norm gradients of the
  // layer below (dgamma and dbeta, then the input gradient) -- joins their
  // segment and is computed inline in each of them (mtl.inline): the
  // layer's full-size dy is never written (on the reference model, a
  // 26 MB tensor written once and read three times per step). The gather
  // is recomputed per reader; it reads the pooled dy, a quarter the size.
  std::vector<std::vector<int>> readers(nv);
  for (int k = 0; k < n; ++k)
    for (int v : fn.nodes[k].inputs)
      if (v >= 0 && v < nv)
        readers[v].push_back(k);
  std::vector<int> outputUses(nv, 0);
  for (const kg::Arg &o : fn.outputs)
    ++outputUses[o.value];
  // A first layer's conv (or conv gradient) by its filter `w` (KH x KW x Ci
  // x Co): at most 9 products per output, no dilation or groups.
  auto firstLayerConv = [&](const kg::Node &conv, int w) {
    const auto &s = fn.values[w].shape;
    return !kg::isGeneralConv(conv) && s.size() == 4 && s[0] * s[1] * s[2] <= 9;
  };
  // Node k and its epilogue chain (as Lowering.cpp fuses them), if that is
  // all of k's unit; empty otherwise.
  auto wholeChain = [&](int k) {
    std::vector<int> chain = {k};
    int cur = fn.nodes[k].result;
    while (readers[cur].size() == 1 && outputUses[cur] == 0) {
      const kg::Node &c = fn.nodes[readers[cur][0]];
      if (!c.ints.count("mtl.fused_epilogue") || c.inputs.empty() ||
          c.inputs[0] != cur || root(readers[cur][0]) != root(k))
        break;
      chain.push_back(readers[cur][0]);
      cur = c.result;
    }
    int members = 0;
    for (int j = 0; j < n; ++j)
      members += root(j) == root(k);
    if (members != static_cast<int>(chain.size()))
      chain.clear();
    return chain;
  };
  // Node k's chain if its last value is stored nowhere and every reader
  // reads it once, at the input `at(reader)` names (-1: not an allowed
  // reader); empty otherwise.
  auto chainReadOnlyBy = [&](int k, auto at) {
    std::vector<int> chain = wholeChain(k);
    int cur = chain.empty() ? -1 : fn.nodes[chain.back()].result;
    bool ok = cur >= 0 && outputUses[cur] == 0 && !readers[cur].empty();
    for (int m : ok ? readers[cur] : std::vector<int>{}) {
      const kg::Node &r = fn.nodes[m];
      int i = at(r.op);
      ok = ok && i >= 0 && static_cast<int>(r.inputs.size()) > i &&
           r.inputs[i] == cur &&
           std::count(r.inputs.begin(), r.inputs.end(), cur) == 1;
    }
    return ok ? chain : std::vector<int>{};
  };
  std::set<int> inlined;
  for (int k = 0; inlining && k < n; ++k) {
    if (fn.nodes[k].op != "max_pool_grad")
      continue;
    std::vector<int> chain = chainReadOnlyBy(k, [](const std::string &op) {
      return op == "batch_norm_grad_gamma" ||
                     op == "batch_norm_backward_input" || op == "bias_grad"
                 ? 0
                 : -1;
    });
    if (chain.empty())
      continue;
    for (int m : readers[fn.nodes[chain.back()].result])
      unite(m, k);
    inlined.insert(chain.begin(), chain.end());
  }

  // The first layer's grad-filter reads its input gradient where it is
  // made: a batch_norm_backward_input read only by a small-filter
  // conv2d_backward_filter (at most 9 taps per output: a first layer, so
  // no grad-input reads it too) and by bias_grads summed in closed form
  // joins the grad-filter's segment and is computed per image inside it
  // (mtl.inline; Staging.h). Its result (26 MB on the reference model) is
  // never written nor read back.
  for (int k = 0; inlining && k < n; ++k) {
    const kg::Node &bn = fn.nodes[k];
    if (bn.op != "batch_norm_backward_input" || !hasClosedFormTotal(fn, bn))
      continue;
    const int v = bn.result;
    int filter = -1;
    bool ok = outputUses[v] == 0;
    for (int m : readers[v]) {
      const kg::Node &r = fn.nodes[m];
      if (r.op == "bias_grad" && r.inputs.size() == 1)
        continue;
      ok = ok && filter < 0 && r.op == "conv2d_backward_filter" &&
           r.inputs.size() == 2 && r.inputs[0] != v && r.inputs[1] == v &&
           firstLayerConv(r, r.result);
      filter = m;
    }
    if (ok && filter >= 0) {
      unite(filter, k);
      inlined.insert(k);
    }
  }

  // Accumulating join: a join with two or more operands that are dense
  // grad-inputs read only by it -- the heads' dx summed where they meet on
  // a shared feature -- is one kernel: each product is an update of the join's
  // own accumulator (ops/Dense.cpp, denseBackwardInputSum), so the T dx tensors
  // are never written and the sum pass is gone. (Join fusion would
  // concatenate the operands instead, copies its cost model refuses.) Other
  // operands of the join start the accumulator.
  for (int k = 0; inlining && k < n; ++k) {
    const kg::Node &join = fn.nodes[k];
    if (join.op != "join" || join.inputs.size() < 2)
      continue;
    std::vector<int> products;
    for (int v : join.inputs) {
      int d = v >= 0 && v < nv ? defNode[v] : -1;
      if (d >= 0 && fn.nodes[d].op == "dense_backward_input" &&
          outputUses[v] == 0 && readers[v].size() == 1 &&
          std::count(join.inputs.begin(), join.inputs.end(), v) == 1 &&
          wholeChain(d) == std::vector<int>{d})
        products.push_back(d);
    }
    if (products.size() < 2)
      continue;
    for (int d : products) {
      unite(d, k);
      inlined.insert(d);
    }
  }

  // Recomputation: a training batch norm (and its fused relu) read only by
  // passes that read each element a bounded number of times -- the max
  // pool after it, and in the backward pass the pool's gradient and the
  // relu's -- is stored nowhere: every segment that reads it computes it
  // inline (mtl.inline) from x and the per-channel coefficients. Its
  // readers read x instead of y, as much; the forward pass no longer writes
  // y (26 MB on the reference model's first layer) nor reads it back.
  std::set<int> recomputed;
  for (int k = 0; inlining && k < n; ++k) {
    if (fn.nodes[k].op != "batch_norm_train")
      continue;
    std::vector<int> chain = chainReadOnlyBy(k, [](const std::string &op) {
      return op == "max_pool" || op == "max_pool_argmax"  ? 0
             : op == "max_pool_grad" || op == "relu_grad" ? 1
                                                          : -1;
    });
    recomputed.insert(chain.begin(), chain.end());
  }
  // A convolution with a tiny receptive field (at most 9 products per
  // output: the first layer's 3 x 3 taps over one input channel) read only
  // by the batch norm after it -- its statistics, the normalization (itself
  // recomputed), and in the backward pass the gamma and input gradients --
  // is recomputed in each of them from the small input. Its output (26 MB
  // on the reference model, written once and read five times per step) is
  // the largest tensor of the step, and the conv is memory-bound: 0.1 GFLOP
  // against 27 MB written.
  for (int k = 0; inlining && k < n; ++k) {
    const kg::Node &conv = fn.nodes[k];
    if (conv.op != "conv2d" || conv.inputs.size() < 2 ||
        !firstLayerConv(conv, conv.inputs[1]))
      continue;
    std::vector<int> chain = chainReadOnlyBy(k, [](const std::string &op) {
      return op == "batch_stats" || op == "batch_norm_train" ? 0
             : op == "batch_norm_grad_gamma" ||
                     op == "batch_norm_backward_input"
                 ? 1
                 : -1;
    });
    if (chain == std::vector<int>{k}) {
      recomputed.insert(k);
      continue;
    }
    // With an inference batch norm (and relu) as its epilogue, read only by
    // the max pool after them (an eval or predict step): recomputed in the
    // pool (ops/FirstLayerPool.cpp), its output never written nor read back.
    chain = chainReadOnlyBy(
        k, [](const std::string &op) { return op == "max_pool" ? 0 : -1; });
    bool ok = chain.size() >= 2 && fn.nodes[chain[1]].op == "batch_norm";
    for (size_t q = 2; ok && q < chain.size(); ++q)
      ok = fn.nodes[chain[q]].op == "relu";
    if (ok)
      recomputed.insert(chain.begin(), chain.end());
  }
  // An upsample_nearest read only by zero-padded convolutions (a decoder's
  // conv after the upsample: its forward and grad-filter) is recomputed in
  // them too: each stages its padded input per image (ops/Conv2D.cpp), and
  // that copy now reads the small tensor through the nearest-neighbour
  // index. The upsampled tensor (6.4 MB before the reference model's last
  // conv) is never written nor read back.
  for (int k = 0; inlining && k < n; ++k) {
    if (fn.nodes[k].op != "upsample_nearest")
      continue;
    std::vector<int> chain = chainReadOnlyBy(k, [](const std::string &op) {
      return op == "conv2d" || op == "conv2d_backward_filter" ? 0 : -1;
    });
    bool staged = chain == std::vector<int>{k};
    for (int m : staged ? readers[fn.nodes[k].result] : std::vector<int>{}) {
      auto pad = fn.nodes[m].ints.find("padding");
      staged = staged && !kg::isGeneralConv(fn.nodes[m]) &&
               pad != fn.nodes[m].ints.end() &&
               std::any_of(pad->second.begin(), pad->second.end(),
                           [](int64_t p) { return p > 0; });
    }
    if (staged)
      recomputed.insert(k);
  }
  // A decoder's last grad-input (a one-channel dy, at most 9 products per
  // element: 3 x 3 taps, stride 1) read only by the gradient of the
  // upsample before it is recomputed in it: each 2 x 2 block sum evaluates
  // the conv at its four pixels (36 products per vector of channels, the
  // same work; on the CPU 16, the taps merged per block: Polyphase.cpp).
  // The full-size input gradient (6.4 MB on the reference model, written
  // once and read back once) is never stored.
  for (int k = 0; inlining && k < n; ++k) {
    const kg::Node &conv = fn.nodes[k];
    if (conv.op != "conv2d_backward_input" || conv.inputs.size() != 2 ||
        kg::isGeneralConv(conv))
      continue;
    auto stride = conv.ints.find("stride");
    if (stride != conv.ints.end() &&
        std::any_of(stride->second.begin(), stride->second.end(),
                    [](int64_t s) { return s != 1; }))
      continue;
    const auto &w = fn.values[conv.inputs[1]].shape; // KH x KW x Ci x Co
    if (w.size() != 4 || w[0] * w[1] * w[3] > 9)
      continue;
    std::vector<int> chain = chainReadOnlyBy(k, [](const std::string &op) {
      return op == "upsample_grad_nearest" ? 0 : -1;
    });
    if (chain == std::vector<int>{k})
      recomputed.insert(k);
  }
  std::map<int, int> viewOf; // reshape result -> the stored value it views
  std::set<int> views;       // the reshape nodes

  // The units a node depends on; a recomputed producer (or a view) stands
  // for its own producers.
  std::function<void(int, std::set<int> &)> producerUnits =
      [&](int v, std::set<int> &out) {
        int d = v >= 0 && v < nv ? defNode[v] : -1;
        if (d < 0)
          return;
        if (!recomputed.count(d) && !views.count(d)) {
          out.insert(root(d));
          return;
        }
        for (int u : fn.nodes[d].inputs)
          producerUnits(u, out);
      };

  // Small units share pipelines (SmallUnits.h): a unit whose nodes do at
  // most kSmallFlops and touch at most kSmallBytes (each value once) costs
  // less than its pipeline call. Reshapes stay apart (views, below; none
  // is a view yet, so producerUnits sees them as units). The units are
  // offered in the order of their first nodes; the grouping keeps the unit
  // graph acyclic in any order.
  if (mergeSmall) {
    constexpr double kSmallFlops = 4e6;
    constexpr int64_t kSmallBytes = 1 << 20;
    constexpr int kMaxGroupNodes = 48;
    std::map<int, int> index; // unit root -> dense index
    std::vector<int> unitRoot;
    for (int k = 0; k < n; ++k)
      if (!recomputed.count(k) &&
          index.emplace(root(k), unitRoot.size()).second)
        unitRoot.push_back(root(k));
    const int U = static_cast<int>(unitRoot.size());
    std::vector<double> flops(U, 0.0);
    std::vector<std::set<int>> touched(U), succSet(U);
    std::vector<int> weight(U, 0), order(U);
    std::vector<bool> small(U, true);
    for (int k = 0; k < n; ++k) {
      if (recomputed.count(k))
        continue;
      const kg::Node &node = fn.nodes[k];
      const int u = index.at(root(k));
      ++weight[u];
      flops[u] += nodeFlops(fn, node);
      small[u] = small[u] && node.op != "reshape";
      touched[u].insert(node.result);
      std::set<int> from;
      for (int v : node.inputs) {
        touched[u].insert(v);
        producerUnits(v, from);
      }
      for (int r : from)
        if (index.at(r) != u)
          succSet[index.at(r)].insert(u);
    }
    std::vector<std::vector<int>> succ(U);
    for (int u = 0; u < U; ++u) {
      order[u] = u;
      succ[u].assign(succSet[u].begin(), succSet[u].end());
      int64_t bytes = 0;
      for (int v : touched[u])
        bytes += v >= 0 && v < nv ? kg::byteSize(fn.values[v]) : 0;
      small[u] = small[u] && flops[u] <= kSmallFlops && bytes <= kSmallBytes;
    }
    std::vector<int> group =
        groupSmallUnits(succ, order, small, weight, kMaxGroupNodes);
    for (int u = 0; u < U; ++u)
      if (group[u] != u)
        unite(unitRoot[u], unitRoot[group[u]]);
  }

  // A reshape is a view: row-major with dense strides, its result is its
  // input's bytes under another shape. Where the input is stored in the
  // arena (made by a segment, not an argument or an output), the reshape
  // is no kernel: its result gets the input's arena slot (its own buffer
  // dims), and the slot lives until the view's last reader. On the
  // reference model: the backbone's flatten, the decoder's grid and their
  // gradients, four copies per step. Not where a reader of the view shares
  // a unit with the input's producer (one pipeline would read an input
  // that aliases its own output).
  for (int k = 0; k < n; ++k) {
    const kg::Node &node = fn.nodes[k];
    if (node.op != "reshape" || node.inputs.size() != 1)
      continue;
    int base = node.inputs[0];
    if (auto b = viewOf.find(base); b != viewOf.end())
      base = b->second;
    const int d = base >= 0 && base < nv ? defNode[base] : -1;
    bool ok = d >= 0 && !recomputed.count(d) && outputUses[base] == 0 &&
              outputUses[node.result] == 0 &&
              fn.values[base].dtype == fn.values[node.result].dtype;
    ok = ok && wholeChain(k) == std::vector<int>{k}; // a unit of its own
    // The units that read the view: a recomputed reader is copied into
    // the segments of its own readers.
    std::function<void(int)> check = [&](int v) {
      for (int m : readers[v]) {
        if (recomputed.count(m))
          check(fn.nodes[m].result);
        else
          ok = ok && (views.count(m) || root(m) != root(d));
      }
    };
    if (ok)
      check(node.result);
    if (ok) {
      viewOf[node.result] = base;
      views.insert(k);
    }
  }

  // Units in a topological order (Kahn), earliest first member first, so
  // the order stays close to the original one.
  std::map<int, std::vector<int>> members; // root -> nodes, in order
  for (int k = 0; k < n; ++k)
    if (!recomputed.count(k) && !views.count(k))
      members[root(k)].push_back(k);
  std::map<int, std::set<int>> succ;
  std::map<int, int> indegree;
  for (auto &[r, m] : members)
    indegree[r] = 0;
  for (int k = 0; k < n; ++k) {
    if (recomputed.count(k) || views.count(k))
      continue;
    std::set<int> deps;
    for (int v : fn.nodes[k].inputs)
      producerUnits(v, deps);
    for (int d : deps)
      if (d != root(k) && succ[d].insert(root(k)).second)
        ++indegree[root(k)];
  }
  std::set<std::pair<int, int>> ready; // (first member, root)
  for (auto &[r, d] : indegree)
    if (d == 0)
      ready.insert({members[r].front(), r});
  std::vector<int> unitOrder;
  while (!ready.empty()) {
    int r = ready.begin()->second;
    ready.erase(ready.begin());
    unitOrder.push_back(r);
    for (int t : succ[r])
      if (--indegree[t] == 0)
        ready.insert({members[t].front(), t});
  }
  int numSegments = 0;
  std::vector<std::vector<int>> segNodes;
  if (unitOrder.size() == members.size()) {
    for (int r : unitOrder) {
      // The unit, and a copy of every recomputed node it reads.
      std::set<int> nodes(members[r].begin(), members[r].end());
      std::function<void(int)> need = [&](int v) {
        int d = v >= 0 && v < nv ? defNode[v] : -1;
        if (d >= 0 && recomputed.count(d) && nodes.insert(d).second)
          for (int u : fn.nodes[d].inputs)
            need(u);
      };
      for (int k : members[r])
        for (int v : fn.nodes[k].inputs)
          need(v);
      segNodes.push_back(std::vector<int>(nodes.begin(), nodes.end()));
      ++numSegments;
    }
  } else {
    // A unit would depend on itself through other nodes: one segment.
    std::vector<int> all(n);
    for (int k = 0; k < n; ++k)
      all[k] = k;
    segNodes.push_back(all);
    numSegments = n ? 1 : 0;
    recomputed.clear();
    viewOf.clear();
  }

  SegmentedFunction sf;
  sf.views = viewOf;
  sf.homes.assign(nv, ValueHome{});
  for (size_t i = 0; i < fn.args.size(); ++i)
    sf.homes[fn.args[i].value] = {ValueHome::Arg, static_cast<int>(i), -1};
  std::set<int> homed;
  for (const kg::Arg &a : fn.args)
    homed.insert(a.value);
  for (size_t j = 0; j < fn.outputs.size(); ++j) {
    int v = fn.outputs[j].value;
    if (homed.count(v)) {
      sf.copies.push_back({static_cast<int>(j), v});
      continue;
    }
    homed.insert(v);
    sf.homes[v] = {ValueHome::Output, static_cast<int>(j), -1};
  }

  // Last segment reading each value.
  std::vector<int> lastReader(nv, -1);
  for (int si = 0; si < numSegments; ++si)
    for (int k : segNodes[si])
      for (int v : fn.nodes[k].inputs)
        lastReader[v] = std::max(lastReader[v], si);
  for (auto [view, base] : viewOf) // a view's readers read the base's slot
    lastReader[base] = std::max(lastReader[base], lastReader[view]);

  sf.segments.resize(numSegments);
  for (int si = 0; si < numSegments; ++si)
    for (int k : segNodes[si]) {
      Segment &s = sf.segments[si];
      s.fn.nodes.push_back(fn.nodes[k]);
      if (hasClosedFormTotal(fn, fn.nodes[k]))
        s.fn.nodes.back().ints["mtl.closed_total"] = {1};
      if (inlined.count(k) || recomputed.count(k))
        s.fn.nodes.back().ints["mtl.inline"] = {1};
      s.flops += nodeFlops(fn, fn.nodes[k]);
      s.label +=
          (s.label.empty() ? "n" + std::to_string(fn.nodes[k].result) + " "
                           : std::string("+")) +
          fn.nodes[k].op;
    }
  // Arena: first fit by segment liveness (as MemoryPlan.cpp does by node).
  struct Block {
    int64_t offset, size;
    int lastUse;
  };
  std::vector<Block> live;
  for (int si = 0; si < numSegments; ++si) {
    Segment &s = sf.segments[si];
    s.fn.name = fn.name + "_s" + std::to_string(si);
    s.fn.values = fn.values;
    std::set<int> defined, inputs;
    for (const kg::Node &node : s.fn.nodes)
      defined.insert(node.result);
    for (const kg::Node &node : s.fn.nodes)
      for (int v : node.inputs)
        if (!defined.count(v) && inputs.insert(v).second) {
          const ValueHome &h = sf.homes[v];
          kg::Arg a{kg::ArgKind::Input, "v" + std::to_string(v), v, ""};
          if (h.kind == ValueHome::Arg)
            a = fn.args[h.index];
          s.fn.args.push_back(a);
          s.args.push_back(v);
        }
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const Block &b) { return b.lastUse < si; }),
               live.end());
    for (int k : segNodes[si]) {
      if (recomputed.count(k))
        continue; // computed where it is read, never stored
      int v = fn.nodes[k].result;
      ValueHome &h = sf.homes[v];
      if (h.kind == ValueHome::Output) {
        s.fn.outputs.push_back(fn.outputs[h.index]);
        s.outs.push_back(v);
        continue;
      }
      if (lastReader[v] <= si)
        continue; // used only inside this segment
      int64_t size = (kg::byteSize(fn.values[v]) + 127) / 128 * 128, offset = 0;
      auto at = live.begin();
      for (; at != live.end(); ++at) {
        if (at->offset - offset >= size)
          break;
        offset = std::max(offset, at->offset + at->size);
      }
      live.insert(at, {offset, size, lastReader[v]});
      h = {ValueHome::Arena, -1, offset};
      for (auto [view, base] : viewOf)
        if (base == v)
          sf.homes[view] = h;
      sf.arenaBytes = std::max(sf.arenaBytes, offset + size);
      s.fn.outputs.push_back(
          {kg::ArgKind::Prediction, "v" + std::to_string(v), v, ""});
      s.outs.push_back(v);
    }
  }
  return sf;
}

std::string segmentedEntrySource(const kg::Function &fn,
                                 const SegmentedFunction &sf,
                                 const std::string &cname) {
  std::ostringstream os;
  const size_t numArgs = fn.args.size(), numOuts = fn.outputs.size();
  const size_t numSeg = sf.segments.size();
  os << "// Generated by mtlc: the entry point of step function '" << fn.name
     << "',\n// " << numSeg
     << " Halide pipelines run in order (codegen/Segments.h).\n"
     << "#include <HalideRuntime.h>\n\n#include <chrono>\n#include "
        "<cstdio>\n#include <cstdlib>\n#include <cstring>\n\n#include "
        "<sys/mman.h>\n\n"
     << "extern \"C\" {\n";
  for (size_t k = 0; k < numSeg; ++k)
    os << "int " << cname << "_s" << k << "_argv(void **args);\n";
  os << "}\n\nnamespace {\n\n";

  // The arena's tensors: dims (innermost first) and types.
  std::vector<int> arenaValues;
  for (int v = 0; v < static_cast<int>(sf.homes.size()); ++v)
    if (sf.homes[v].kind == ValueHome::Arena && sf.homes[v].offset >= 0)
      arenaValues.push_back(v);
  std::map<int, int> slot;
  size_t totalDims = 0;
  os << "struct ArenaTensor {\n  long long offset;\n  int isInt, bits, rank, "
        "dimStart;\n};\n";
  os << "constexpr ArenaTensor kTensors[] = {\n";
  for (int v : arenaValues) {
    slot[v] = static_cast<int>(slot.size());
    const kg::Value &val = fn.values[v];
    os << "    {" << sf.homes[v].offset << ", "
       << (val.dtype == kg::DType::F32 ? 0 : 1) << ", "
       << 8 * kg::elementBytes(val.dtype) << ", " << val.shape.size() << ", "
       << totalDims << "},\n";
    totalDims += val.shape.size();
  }
  os << "    {0, 0, 0, 0, 0}};\n";
  os << "constexpr int kDims[][2] = { // extent, stride\n";
  for (int v : arenaValues)
    for (auto [e, s] : extentsAndStrides(fn.values[v].shape))
      os << "    {" << e << ", " << s << "},\n";
  os << "    {0, 0}};\n";
  os << "constexpr int kNumTensors = " << arenaValues.size()
     << ";\nconstexpr size_t kArenaBytes = "
     << (sf.arenaBytes + 127) / 128 * 128 << ";\n\n";
  os << R"SRC(/// One arena per calling thread: buffers planned at compile time, so a
/// step allocates nothing. 2 MB aligned and advised as transparent huge
/// pages (runtime/Aligned.h says why).
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kArenaAlloc =
    (kArenaBytes + kHugePage - 1) / kHugePage * kHugePage;
struct Arena {
  unsigned char *base = nullptr;
  halide_dimension_t dims[sizeof(kDims) / sizeof(kDims[0])];
  halide_buffer_t bufs[kNumTensors + 1];
  Arena() {
    if (kArenaBytes) {
      base = static_cast<unsigned char *>(std::aligned_alloc(kHugePage, kArenaAlloc));
      if (base)
        madvise(base, kArenaAlloc, MADV_HUGEPAGE);
    }
    for (size_t d = 0; d < sizeof(kDims) / sizeof(kDims[0]); ++d)
      dims[d] = halide_dimension_t{0, kDims[d][0], kDims[d][1], 0};
    for (int t = 0; t < kNumTensors; ++t) {
      halide_buffer_t &b = bufs[t];
      std::memset(&b, 0, sizeof b);
      b.host = base + kTensors[t].offset;
      b.type = halide_type_t(kTensors[t].isInt ? halide_type_int
                                               : halide_type_float,
                             kTensors[t].bits, 1);
      b.dimensions = kTensors[t].rank;
      b.dim = dims + kTensors[t].dimStart;
    }
  }
  ~Arena() { std::free(base); }
};

)SRC";
  // Profile: MTL_PROFILE=1 times every segment and prints a table at exit.
  os << "constexpr int kNumSegments = " << numSeg << ";\n";
  os << "const char *const kLabels[] = {\n";
  for (const Segment &s : sf.segments)
    os << "    \"" << s.label << "\",\n";
  os << "    nullptr};\nconstexpr double kFlops[] = {\n";
  for (const Segment &s : sf.segments)
    os << "    " << s.flops << ",\n";
  os << "    0};\n";
  os << "const char kName[] = \"" << fn.name << "\";\n";
  os << R"SRC(
struct Profile {
  bool on = std::getenv("MTL_PROFILE") != nullptr;
  double seconds[kNumSegments + 1] = {};
  long calls = 0;
  ~Profile() {
    if (!on || calls == 0)
      return;
    double total = 0;
    for (int k = 0; k < kNumSegments; ++k)
      total += seconds[k];
    std::fprintf(stderr, "\nMTL_PROFILE %s: %ld calls, %.3f ms/call in %d kernels\n",
                 kName, calls, 1e3 * total / calls, kNumSegments);
    std::fprintf(stderr, "%5s %9s %6s %9s  %s\n", "#", "ms/call", "%", "GFLOP/s",
                 "kernel (first node: ops)");
    int order[kNumSegments];
    for (int k = 0; k < kNumSegments; ++k)
      order[k] = k;
    for (int a = 0; a < kNumSegments; ++a) // a few hundred: selection sort
      for (int b = a + 1; b < kNumSegments; ++b)
        if (seconds[order[b]] > seconds[order[a]]) {
          int t = order[a];
          order[a] = order[b];
          order[b] = t;
        }
    for (int i = 0; i < kNumSegments; ++i) {
      int k = order[i];
      double ms = 1e3 * seconds[k] / calls;
      std::fprintf(stderr, "%5d %9.3f %6.1f %9.1f  %s\n", k, ms,
                   total > 0 ? 100 * seconds[k] / total : 0.0,
                   ms > 0 ? kFlops[k] / ms / 1e6 : 0.0, kLabels[k]);
    }
  }
};
Profile profile;

} // namespace

)SRC";

  auto ref = [&](int v) -> std::string {
    const ValueHome &h = sf.homes[v];
    switch (h.kind) {
    case ValueHome::Arg:
      return "args[" + std::to_string(h.index) + "]";
    case ValueHome::Output:
      return "args[" + std::to_string(numArgs + h.index) + "]";
    case ValueHome::Arena:
      break;
    }
    return "&arena.bufs[" + std::to_string(slot.at(v)) + "]";
  };
  os << "extern \"C\" int " << cname << "_argv(void **args) {\n"
     << "  thread_local Arena arena;\n"
     << "  if (kArenaBytes && !arena.base)\n    return -1;\n"
     << "  std::chrono::steady_clock::time_point t0;\n"
     << "  if (profile.on) {\n    ++profile.calls;\n"
     << "    t0 = std::chrono::steady_clock::now();\n  }\n";
  for (size_t k = 0; k < numSeg; ++k) {
    const Segment &s = sf.segments[k];
    os << "  { // " << s.label << "\n    void *a[] = {";
    bool first = true;
    for (int v : s.args) {
      os << (first ? "" : ", ") << ref(v);
      first = false;
    }
    for (int v : s.outs) {
      os << (first ? "" : ", ") << ref(v);
      first = false;
    }
    os << "};\n    if (int e = " << cname << "_s" << k << "_argv(a))\n"
       << "      return e;\n"
       << "    if (profile.on) {\n"
       << "      auto t1 = std::chrono::steady_clock::now();\n"
       << "      profile.seconds[" << k
       << "] += std::chrono::duration<double>(t1 - t0).count();\n"
       << "      t0 = t1;\n    }\n  }\n";
  }
  for (auto [j, v] : sf.copies)
    os << "  std::memcpy(static_cast<halide_buffer_t *>(args[" << numArgs + j
       << "])->host, static_cast<halide_buffer_t *>(" << ref(v) << ")->host, "
       << kg::byteSize(fn.values[v]) << ");\n";
  os << "  return 0;\n}\n\n";

  // Metadata: the argument list of the single pipeline this replaces.
  os << "extern \"C\" const halide_filter_metadata_t *" << cname
     << "_metadata() {\n  static const halide_filter_argument_t a[] = {\n";
  auto arg = [&](const kg::Arg &a, bool out, size_t i) {
    const kg::Value &v = fn.values[a.value];
    os << "      {\"" << (out ? "out" : "in") << i << "_" << a.name << "\", "
       << (out ? 2 : 1) << ", " << v.shape.size() << ", halide_type_t("
       << (v.dtype == kg::DType::F32 ? "halide_type_float" : "halide_type_int")
       << ", " << 8 * kg::elementBytes(v.dtype)
       << ", 1), nullptr, nullptr, nullptr, nullptr, nullptr},\n";
  };
  for (size_t i = 0; i < numArgs; ++i)
    arg(fn.args[i], false, i);
  for (size_t j = 0; j < numOuts; ++j)
    arg(fn.outputs[j], true, j);
  os << "  };\n  static const halide_filter_metadata_t md = {1, "
     << numArgs + numOuts << ", a, \"segmented\", \"" << cname
     << "\"};\n  return &md;\n}\n";
  return os.str();
}

} // namespace mtl::codegen
