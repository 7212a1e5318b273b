//===- StagingTest.cpp - Recomputed producers staged per reader -----------===//
//
// stageRecomputedProducers (codegen/Staging.h) on hand-built Halide
// pipelines: a producer inlined through a chain of Funcs into two readers
// is computed once per image inside each registered reader, the values do
// not change, and an unregistered reader keeps the inlined producer.
//
//===----------------------------------------------------------------------===//
#include "codegen/Staging.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

using namespace Halide;
using namespace mtl::codegen;

namespace {

constexpr int C = 8, W = 6, H = 4, N = 3;

/// The names of the Funcs `f` calls directly.
std::set<std::string> callsOf(const Internal::Function &f) {
  std::set<std::string> names;
  for (const auto &[name, fn] : Internal::find_direct_calls(f))
    names.insert(name);
  return names;
}
std::set<std::string> callsOf(const Func &f) { return callsOf(f.function()); }

/// The Func named `name` among those `f` reaches.
Internal::Function reached(const Func &f, const std::string &name) {
  return Internal::find_transitive_calls(f.function()).at(name);
}

/// The name of `f`'s copy staged for `reader`: "f_in_reader", or, where an
/// earlier Func of the process had that name (tests share one process),
/// Halide's unique_name of it ('$' turned into '_', "$k" appended).
std::string in(const Func &f, const Func &reader) {
  const std::string want = f.name() + "_in_" + reader.name();
  std::string sanitized = want;
  std::replace(sanitized.begin(), sanitized.end(), '$', '_');
  for (const auto &[name, fn] :
       Internal::find_transitive_calls(reader.function()))
    if (name == want || name.rfind(sanitized + "$", 0) == 0)
      return name;
  return want;
}

struct Graph {
  Var c{"c"}, x{"x"}, y{"y"}, n{"n"};
  ImageParam in{Float(32), 4, "in"};
  Func producer{"producer"}, window{"window"}, sums{"sums"}, scaled{"scaled"},
      plain{"plain"};
  RDom r{0, W, 0, H, 0, N, "r"};

  Graph() {
    // A 3-tap sum (a conv), read through a Func that compares a 2-wide
    // window of it (the max-pool gradient's pattern: each producer value
    // evaluated twice per element).
    Expr xm = clamp(x - 1, 0, W - 1), xp = clamp(x + 1, 0, W - 1);
    producer(c, x, y, n) =
        in(c, xm, y, n) + 2.0f * in(c, x, y, n) + 3.0f * in(c, xp, y, n);
    Expr other = producer(c, clamp(x ^ 1, 0, W - 1), y, n);
    window(c, x, y, n) =
        select(producer(c, x, y, n) >= other, producer(c, x, y, n), 0.0f);
    // Reader 1: per-channel sums over the images (an update with an image
    // loop); reader 2: an elementwise stage; reader 3: unregistered.
    sums(c) = 0.0f;
    sums(c) += window(c, r.x, r.y, r.z) * producer(c, r.x, r.y, r.z);
    sums.compute_root().vectorize(c, 8);
    sums.update().reorder(c, r.x, r.y, r.z).vectorize(c, 8);
    scaled(c, x, y, n) = window(c, x, y, n) - producer(c, x, y, n);
    scaled.compute_root().vectorize(c, 8);
    plain(c, x, y, n) = producer(c, x, y, n) * 0.5f;
    plain.compute_root();
  }

  Staging staging(bool withReaders, bool windowToo = false) {
    Staging s;
    s.producers.push_back({producer, C});
    if (windowToo)
      s.producers.push_back({window, C});
    if (withReaders) {
      s.readers.push_back({sums, LoopLevel(sums, r.z)});
      s.readers.push_back({scaled, LoopLevel(scaled, n)});
    }
    return s;
  }

  std::vector<Buffer<float>> run() {
    Buffer<float> input(C, W, H, N);
    input.for_each_element([&](int c, int x, int y, int n) {
      input(c, x, y, n) = static_cast<float>((c * 7 + x * 5 + y * 3 + n) % 11) -
                          5.0f + 0.25f * static_cast<float>(x % 3);
    });
    in.set(input);
    Buffer<float> s(C), a(C, W, H, N), p(C, W, H, N);
    Pipeline({sums, scaled, plain}).realize({s, a, p});
    return {s, a, p};
  }
};

void expectEqual(const std::vector<Buffer<float>> &a,
                 const std::vector<Buffer<float>> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k)
    a[k].for_each_element([&](const int *at) {
      EXPECT_FLOAT_EQ(a[k](at), b[k](at)) << "output " << k;
    });
}

} // namespace

TEST(Staging, EachRegisteredReaderGetsItsOwnStagedProducer) {
  Graph whole;
  std::vector<Buffer<float>> expected = whole.run();

  Graph g;
  stageRecomputedProducers(g.staging(true));
  // Each registered reader now reaches its own copy of the producer (and of
  // the window Func between them); the original is left to the third.
  // Direct calls: each reader reads its own copies; the window copy reads
  // the reader's staged producer, a copy of the original's definition.
  std::set<std::string> sums = callsOf(g.sums), scaled = callsOf(g.scaled);
  EXPECT_EQ(sums, (std::set<std::string>{g.sums.name(), in(g.window, g.sums),
                                         in(g.producer, g.sums)}));
  EXPECT_EQ(scaled, (std::set<std::string>{in(g.window, g.scaled),
                                           in(g.producer, g.scaled)}));
  EXPECT_EQ(callsOf(reached(g.sums, in(g.window, g.sums))),
            (std::set<std::string>{in(g.producer, g.sums)}));
  EXPECT_EQ(callsOf(reached(g.sums, in(g.producer, g.sums))),
            callsOf(g.producer));
  EXPECT_EQ(callsOf(g.plain), (std::set<std::string>{g.producer.name()}));
  expectEqual(g.run(), expected);
}

TEST(Staging, NothingRegisteredChangesNothing) {
  Graph g;
  stageRecomputedProducers(g.staging(false));
  EXPECT_EQ(callsOf(g.sums),
            (std::set<std::string>{g.sums.name(), g.window.name(),
                                   g.producer.name()}));
  Graph whole;
  expectEqual(g.run(), whole.run());
}

TEST(Staging, AProducerReadThroughAnotherIsStagedAtTheSameLoop) {
  // The window Func a producer too (the first layer's batch-norm input
  // gradient read by its grad-filter): each reader computes both per
  // image, the producer first, and the window copy reads the staged one.
  Graph whole;
  std::vector<Buffer<float>> expected = whole.run();
  Graph g;
  stageRecomputedProducers(g.staging(true, true));
  EXPECT_EQ(callsOf(reached(g.sums, in(g.window, g.sums))),
            (std::set<std::string>{in(g.producer, g.sums)}));
  for (const Func &f : {g.window, g.producer}) {
    LoopLevel at = reached(g.sums, in(f, g.sums)).schedule().compute_level();
    at.lock();
    EXPECT_FALSE(at.is_inlined()) << f.name();
    EXPECT_FALSE(at.is_root()) << f.name();
    EXPECT_EQ(at.var().name(), g.r.z.name()) << f.name();
  }
  expectEqual(g.run(), expected);
}
