//===- Staging.cpp - Recomputed producers staged per consumer -------------===//

#include "codegen/Staging.h"
#include "codegen/Isa.h"
#include "codegen/Lowering.h"

#include <functional>
#include <map>
#include <string>

using namespace Halide;
using Halide::Internal::Function;

namespace mtl::codegen {

namespace {

/// A Func Halide will inline into its callers: a pure definition with no
/// schedule of its own.
bool isInlined(const Function &f) {
  if (f.has_update_definition() || f.has_extern_definition())
    return false;
  LoopLevel level = f.schedule().compute_level();
  level.lock();
  return level.is_inlined();
}

/// Stages every producer `reader` reaches through inlined Funcs (and
/// through other producers: a staged producer's own producers are staged at
/// the same loop, before it).
void stageFor(const Staging::Reader &reader,
              const std::map<std::string, int> &producers,
              const Staging &staging) {
  const Function root = reader.func.function();
  // The call graph below the reader, through inlined Funcs only.
  std::map<std::string, Function> funcs;
  std::map<std::string, std::vector<std::string>> callees;
  std::map<std::string, bool> reaches; // is or reaches a producer
  std::vector<std::string> postorder;
  std::function<bool(const Function &)> visit = [&](const Function &f) {
    auto seen = reaches.find(f.name());
    if (seen != reaches.end())
      return seen->second;
    reaches[f.name()] = false; // the graph is acyclic; guards self-calls
    funcs.emplace(f.name(), f);
    bool any = producers.count(f.name()) > 0;
    for (const auto &[name, g] : Internal::find_direct_calls(f)) {
      if (name == f.name() || !isInlined(g))
        continue; // an update reading its own Func; a stage of its own
      if (visit(g)) {
        callees[f.name()].push_back(name);
        any = true;
      }
    }
    reaches[f.name()] = any;
    postorder.push_back(f.name());
    return any;
  };
  if (!visit(root) || !callees.count(root.name()))
    return;
  // The reader's own copy of each Func on a path to a producer, callees
  // first, calling the reader's copies of its callees: a producer's copy is
  // computed per image at the reader's loop, the others stay inlined; the
  // reader calls its copies instead of the originals.
  std::map<std::string, Func> side;
  auto redirect = [&](Function f, const std::string &name) {
    for (const std::string &callee : callees[name])
      f.substitute_calls(funcs.at(callee), side.at(callee).function());
  };
  const std::string tag = "_in_" + root.name();
  for (const std::string &name : postorder) {
    if (name == root.name() || !reaches[name])
      continue;
    Func original(funcs.at(name));
    Func copy(name + tag);
    Tuple values = original.values();
    if (values.size() == 1)
      copy(original.args()) = values[0];
    else
      copy(original.args()) = values;
    redirect(copy.function(), name);
    auto p = producers.find(name);
    if (p != producers.end()) {
      copy.compute_at(reader.at);
      // The ISA's vectors where they divide the channels.
      const int c = staging.producers[p->second].channels;
      const int lanes = c % isa().lanes == 0 ? isa().lanes : dividingLanes(c);
      if (lanes > 1)
        // Guarded: a reader may need fewer channels than a vector per image.
        copy.vectorize(copy.args()[0], lanes, TailStrategy::GuardWithIf);
    }
    side[name] = copy;
  }
  redirect(root, root.name());
}

} // namespace

void stageRecomputedProducers(const Staging &staging) {
  if (staging.producers.empty())
    return;
  std::map<std::string, int> producers;
  for (size_t k = 0; k < staging.producers.size(); ++k)
    producers[staging.producers[k].func.name()] = static_cast<int>(k);
  for (const Staging::Reader &reader : staging.readers)
    stageFor(reader, producers, staging);
}

} // namespace mtl::codegen
