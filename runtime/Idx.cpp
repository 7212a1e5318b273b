//===- Idx.cpp - Reader for IDX files ------------------------------------===//

#include "runtime/Idx.h"
#include "runtime/Error.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace mtl::rt {

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// Reads exactly n bytes or reports how many were missing.
void readExactly(gzFile f, void *dst, size_t n, const std::string &path,
                 const char *what) {
  auto *out = static_cast<uint8_t *>(dst);
  size_t got = 0;
  while (got < n) {
    // gzread takes an unsigned count: read in chunks below 1 GiB.
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
    int r = gzread(f, out + got, chunk);
    if (r < 0) {
      int code = 0;
      const char *msg = gzerror(f, &code);
      fail("{}: read error in {}: {}", path, what, msg ? msg : "unknown");
    }
    if (r == 0)
      fail("{}: truncated {}: expected {} bytes, found {}", path, what, n, got);
    got += static_cast<size_t>(r);
  }
}

uint32_t bigEndian32(const uint8_t *p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

} // namespace

IdxArray readIdx(const std::string &path, int expectedRank, int64_t limit) {
  errno = 0;
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f)
    fail("{}: cannot open: {}", path,
         errno ? std::strerror(errno) : "out of memory");
  gzbuffer(f.get(), 1 << 20);

  uint8_t magic[4];
  readExactly(f.get(), magic, 4, path, "header");
  if (magic[0] != 0 || magic[1] != 0)
    fail("{}: bad magic {:02x}{:02x}{:02x}{:02x}: not an IDX file", path,
         magic[0], magic[1], magic[2], magic[3]);
  if (magic[2] != 0x08)
    fail("{}: IDX dtype 0x{:02x} is not supported (expected 0x08, u8)", path,
         magic[2]);
  int rank = magic[3];
  if (rank == 0)
    fail("{}: IDX rank 0 is not supported", path);
  if (expectedRank > 0 && rank != expectedRank)
    fail("{}: expected a rank-{} IDX array, found rank {}", path, expectedRank,
         rank);

  IdxArray array;
  std::vector<uint8_t> dimBytes(4 * rank);
  readExactly(f.get(), dimBytes.data(), dimBytes.size(), path, "header");
  size_t total = 1;
  for (int i = 0; i < rank; ++i) {
    int64_t d = bigEndian32(&dimBytes[4 * i]);
    if (i == 0 && limit > 0 && limit < d)
      d = limit;
    array.dims.push_back(d);
    total *= static_cast<size_t>(d);
  }
  array.data.resize(total);
  readExactly(f.get(), array.data.data(), total, path, "data");
  return array;
}

void writeIdx(const std::string &path, const std::vector<int64_t> &dims,
              const std::vector<uint8_t> &data, bool gzip) {
  GzFile f(gzopen(path.c_str(), gzip ? "wb6" : "wbT"));
  if (!f)
    fail("{}: cannot create: {}", path, std::strerror(errno));
  std::vector<uint8_t> header = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8)
      header.push_back(static_cast<uint8_t>(d >> shift));
  if (gzwrite(f.get(), header.data(), header.size()) !=
          static_cast<int>(header.size()) ||
      (!data.empty() && gzwrite(f.get(), data.data(), data.size()) !=
                            static_cast<int>(data.size())))
    fail("{}: write failed", path);
}

} // namespace mtl::rt
