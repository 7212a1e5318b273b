//===- IdxTest.cpp - IDX reader -------------------------------------------===//

#include "runtime/Idx.h"
#include "TestUtil.h"
#include "runtime/Error.h"

#include <gtest/gtest.h>

using namespace mtl::rt;
using mtl::rt::test::TempDir;

namespace {

std::vector<uint8_t> iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * 7);
  return v;
}

std::string errorOf(const std::string &path, int rank = 0, int64_t limit = 0) {
  try {
    readIdx(path, rank, limit);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(Idx, ReadsRawAndGzip) {
  TempDir tmp;
  for (bool gz : {false, true}) {
    std::string path = tmp.path(gz ? "a.gz" : "a.raw");
    writeIdx(path, {3, 2, 4}, iota(24), gz);
    IdxArray a = readIdx(path, 3);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 4}));
    EXPECT_EQ(a.data, iota(24));
  }
}

TEST(Idx, LimitReadsPrefix) {
  TempDir tmp;
  writeIdx(tmp.path("a.gz"), {5, 2}, iota(10), true);
  IdxArray a = readIdx(tmp.path("a.gz"), 2, 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2}));
  std::vector<uint8_t> all = iota(10);
  EXPECT_EQ(a.data, std::vector<uint8_t>(all.begin(), all.begin() + 6));
}

TEST(Idx, MissingFile) {
  TempDir tmp;
  std::string msg = errorOf(tmp.path("nope.gz"));
  EXPECT_NE(msg.find("nope.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST(Idx, BadMagic) {
  TempDir tmp;
  mtl::rt::test::writeFile(tmp.path("bad"), std::string("\x12\x34\x08\x01", 4) +
                                                std::string(8, '\0'));
  std::string msg = errorOf(tmp.path("bad"));
  EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
  EXPECT_NE(msg.find(tmp.path("bad")), std::string::npos) << msg;
}

TEST(Idx, UnsupportedDtype) {
  TempDir tmp;
  mtl::rt::test::writeFile(tmp.path("f"),
                           std::string("\0\0\x0d\x01\0\0\0\x01", 8) + "abcd");
  EXPECT_NE(errorOf(tmp.path("f")).find("dtype 0x0d"), std::string::npos);
}

TEST(Idx, TruncatedData) {
  TempDir tmp;
  for (bool gz : {false, true}) {
    std::string full = tmp.path("full"), cut = tmp.path(gz ? "cut.gz" : "cut");
    writeIdx(full, {4, 3}, iota(12), false);
    std::string bytes = mtl::rt::test::readFile(full);
    bytes.resize(bytes.size() - 5);
    // Re-encode the cut bytes with the matching compression.
    std::vector<uint8_t> body(bytes.begin() + 12, bytes.end());
    if (gz) {
      writeIdx(cut, {4, 3}, body, true);
    } else {
      mtl::rt::test::writeFile(cut, bytes);
    }
    std::string msg = errorOf(cut, 2);
    EXPECT_NE(msg.find("truncated data: expected 12 bytes, found 7"),
              std::string::npos)
        << msg;
  }
}

TEST(Idx, TruncatedHeader) {
  TempDir tmp;
  mtl::rt::test::writeFile(tmp.path("h"), std::string("\0\0\x08\x03\0\0", 6));
  EXPECT_NE(errorOf(tmp.path("h")).find("truncated header"), std::string::npos);
}

TEST(Idx, WrongRank) {
  TempDir tmp;
  writeIdx(tmp.path("a"), {6}, iota(6), false);
  std::string msg = errorOf(tmp.path("a"), 3);
  EXPECT_NE(msg.find("expected a rank-3 IDX array, found rank 1"),
            std::string::npos)
      << msg;
}
