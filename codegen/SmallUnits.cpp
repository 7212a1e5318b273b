//===- SmallUnits.cpp - Small kernels that share one pipeline ------------===//
#include "codegen/SmallUnits.h"

namespace mtl::codegen {

std::vector<int> groupSmallUnits(const std::vector<std::vector<int>> &succ,
                                 const std::vector<int> &order,
                                 const std::vector<bool> &small,
                                 const std::vector<int> &weight,
                                 int maxWeight) {
  const int U = static_cast<int>(succ.size());
  std::vector<int> group(U);
  std::vector<std::vector<int>> members(U), pred(U);
  std::vector<int> groupWeight(weight);
  for (int u = 0; u < U; ++u) {
    group[u] = u;
    members[u] = {u};
    for (int s : succ[u])
      pred[s].push_back(u);
  }
  // Whether a path leads from group a to group b through another group.
  std::vector<int> seen(U, -1);
  int stamp = 0;
  auto reachesVia = [&](int a, int b) {
    ++stamp;
    std::vector<int> stack;
    auto push = [&](int g) {
      if (g != a && g != b && seen[g] != stamp) {
        seen[g] = stamp;
        stack.push_back(g);
      }
    };
    for (int m : members[a])
      for (int s : succ[m])
        push(group[s]);
    while (!stack.empty()) {
      int g = stack.back();
      stack.pop_back();
      for (int m : members[g])
        for (int s : succ[m]) {
          if (group[s] == b)
            return true;
          push(group[s]);
        }
    }
    return false;
  };
  int last = -1; // the previous small node
  for (int u : order) {
    if (!small[u])
      continue;
    // Nodes whose groups u may join, looked up when tried (earlier merges
    // rename groups).
    std::vector<int> candidates;
    for (int v : pred[u])
      if (small[v])
        candidates.push_back(v);
    for (int v : succ[u])
      if (small[v])
        candidates.push_back(v);
    if (last >= 0)
      candidates.push_back(last);
    for (int v : candidates) {
      const int g = group[v], from = group[u];
      if (g == from || groupWeight[g] + groupWeight[from] > maxWeight ||
          reachesVia(g, from) || reachesVia(from, g))
        continue;
      for (int m : members[from]) {
        group[m] = g;
        members[g].push_back(m);
      }
      members[from].clear();
      groupWeight[g] += groupWeight[from];
    }
    last = u;
  }
  return group;
}

} // namespace mtl::codegen
