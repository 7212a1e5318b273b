//===- SmallUnits.h - Small kernels that share one pipeline --------------===//
//
// A step function's tail of small kernels -- each head's last products (10
// or 4 wide on the reference model), its loss, the loss's gradient and the
// products' gradients, the relu gradients and bias sums of the heads'
// hidden layers, the batch norms' running statistics -- costs a pipeline
// call each, more than the work of most of them. Segments.cpp groups such
// units into shared pipelines. Grouping is a contraction of the unit DAG;
// it must stay acyclic, so two groups merge only when no path between them
// leaves them (a big kernel between two small ones keeps them apart).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_SMALLUNITS_H
#define MTL_CODEGEN_SMALLUNITS_H

#include <vector>

namespace mtl::codegen {

/// Groups the small nodes of a DAG. `succ[u]`: the successors of node u
/// (0 <= u < U); `order`: the order to offer them in (the result is
/// acyclic in any order; an order close to a topological one groups
/// neighbours best); `small[u]`:
/// whether u may share a group; `weight[u]`: its size (kernel-graph nodes),
/// a group holding at most `maxWeight`. Returns each node's group, named by
/// one of its members (a node not grouped is its own). Greedy, in `order`:
/// a small node joins the group of a small neighbour, else the last group
/// formed, where the contracted graph stays acyclic.
std::vector<int> groupSmallUnits(const std::vector<std::vector<int>> &succ,
                                 const std::vector<int> &order,
                                 const std::vector<bool> &small,
                                 const std::vector<int> &weight, int maxWeight);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_SMALLUNITS_H
