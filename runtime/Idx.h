//===- Idx.h - Reader for IDX files (MNIST / Fashion-MNIST format) -------===//
//
// An IDX file is a big-endian header (magic 0x0000TTRR: T = dtype code, R =
// rank, then R u32 dimensions) followed by the raw elements. Gzip-compressed
// and plain files are both accepted: zlib's gzread passes plain files through.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_IDX_H
#define MTL_RUNTIME_IDX_H

#include <cstdint>
#include <string>
#include <vector>

namespace mtl::rt {

struct IdxArray {
  std::vector<int64_t> dims; // as stored, e.g. [N, 28, 28]
  std::vector<uint8_t> data; // u8 elements, row-major
};

/// Reads a u8 IDX file (dtype 0x08). `expectedRank` is checked when > 0.
/// Reads at most `limit` items along dimension 0 when limit > 0.
/// Throws Error naming the file on any problem.
IdxArray readIdx(const std::string &path, int expectedRank = 0,
                 int64_t limit = 0);

/// Writes a u8 IDX file (gzip-compressed if `gzip`); used by tests and tools.
void writeIdx(const std::string &path, const std::vector<int64_t> &dims,
              const std::vector<uint8_t> &data, bool gzip);

} // namespace mtl::rt

#endif // MTL_RUNTIME_IDX_H
