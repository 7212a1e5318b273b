//===- SmallUnitsTest.cpp - grouping small units keeps the DAG acyclic ---===//
//
// codegen/SmallUnits.h: a group holds only small nodes (or one big node
// alone), weighs at most the cap, and contracting the DAG by the groups
// leaves it acyclic -- on hand-made cases (a big node between two small
// ones keeps them apart) and on random DAGs.
//
//===----------------------------------------------------------------------===//
#include "codegen/SmallUnits.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

using mtl::codegen::groupSmallUnits;

namespace {

/// Whether the DAG contracted by `group` has a cycle (a group reaching
/// itself through another group).
bool contractedHasCycle(const std::vector<std::vector<int>> &succ,
                        const std::vector<int> &group) {
  std::map<int, std::set<int>> edges;
  for (size_t u = 0; u < succ.size(); ++u)
    for (int s : succ[u])
      if (group[u] != group[s])
        edges[group[u]].insert(group[s]);
  std::map<int, int> state; // 1 on the stack, 2 done
  std::function<bool(int)> visit = [&](int g) {
    state[g] = 1;
    for (int t : edges[g])
      if (state[t] == 1 || (state[t] == 0 && visit(t)))
        return true;
    state[g] = 2;
    return false;
  };
  for (int g : group)
    if (state[g] == 0 && visit(g))
      return true;
  return false;
}

std::vector<int> identityOrder(size_t n) {
  std::vector<int> o(n);
  for (size_t i = 0; i < n; ++i)
    o[i] = static_cast<int>(i);
  return o;
}

} // namespace

TEST(SmallUnits, BigNodeBetweenKeepsSmallOnesApart) {
  // 0 (small) -> 1 (big) -> 2 (small), and 0 -> 2: grouping 0 with 2 would
  // need 1 both after and before the group.
  std::vector<std::vector<int>> succ = {{1, 2}, {2}, {}};
  std::vector<int> g = groupSmallUnits(succ, identityOrder(3),
                                       {true, false, true}, {1, 1, 1}, 10);
  EXPECT_NE(g[0], g[2]);
  EXPECT_FALSE(contractedHasCycle(succ, g));
}

TEST(SmallUnits, IndependentAndChainedSmallOnesShareAGroup) {
  // Two heads' tails: 0 -> 1 -> 2 and 3 -> 4 (all small), behind big
  // nodes 5 and 6 that feed them, and a big 7 reading both tails.
  std::vector<std::vector<int>> succ = {{1}, {2}, {7}, {4}, {7}, {0}, {3}, {}};
  std::vector<bool> small = {true, true, true, true, true, false, false, false};
  std::vector<int> order = {5, 6, 0, 1, 2, 3, 4, 7};
  std::vector<int> g =
      groupSmallUnits(succ, order, small, std::vector<int>(8, 1), 10);
  for (int u : {1, 2, 3, 4})
    EXPECT_EQ(g[u], g[0]) << u;
  for (int u : {5, 6, 7})
    EXPECT_EQ(g[u], u);
  EXPECT_FALSE(contractedHasCycle(succ, g));
}

TEST(SmallUnits, GroupsRespectTheWeightCap) {
  // A chain of 6 small nodes of weight 2, groups of at most 5: pairs.
  std::vector<std::vector<int>> succ = {{1}, {2}, {3}, {4}, {5}, {}};
  std::vector<int> g =
      groupSmallUnits(succ, identityOrder(6), std::vector<bool>(6, true),
                      std::vector<int>(6, 2), 5);
  std::map<int, int> weight;
  for (int x : g)
    weight[x] += 2;
  for (auto [grp, w] : weight)
    EXPECT_LE(w, 5) << grp;
  EXPECT_EQ(weight.size(), 3u);
}

TEST(SmallUnits, RandomDagsStayAcyclic) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int U = 2 + static_cast<int>(rng() % 40);
    std::vector<std::vector<int>> succ(U);
    const unsigned density =
        1 + rng() % 4; // edges to ~1/density of later nodes
    for (int u = 0; u < U; ++u)
      for (int v = u + 1; v < U; ++v)
        if (rng() % (4 * density) == 0)
          succ[u].push_back(v);
    std::vector<bool> small(U);
    std::vector<int> weight(U);
    for (int u = 0; u < U; ++u) {
      small[u] = rng() % 3 != 0;
      weight[u] = 1 + static_cast<int>(rng() % 3);
    }
    const int cap = 3 + static_cast<int>(rng() % 10);
    std::vector<int> g =
        groupSmallUnits(succ, identityOrder(U), small, weight, cap);
    ASSERT_FALSE(contractedHasCycle(succ, g)) << "trial " << trial;
    std::map<int, std::vector<int>> members;
    for (int u = 0; u < U; ++u)
      members[g[u]].push_back(u);
    for (auto &[grp, m] : members) {
      ASSERT_EQ(g[grp], grp) << "a group is named by a member";
      if (m.size() < 2)
        continue;
      int w = 0;
      for (int u : m) {
        EXPECT_TRUE(small[u]) << "trial " << trial << " node " << u;
        w += weight[u];
      }
      EXPECT_LE(w, cap) << "trial " << trial;
    }
  }
}
