//===- Npy.h - Reader for NumPy .npy files -------------------------------===//
//
// Version 1-3 .npy files, C order, little-endian float32, uint8, int32 or
// int64 (numpy's default integer). Errors name the file and the byte offset.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_NPY_H
#define MTL_RUNTIME_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace mtl::rt {

struct NpyArray {
  enum class Type { F32, U8, I32, I64 } type = Type::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes; // row-major elements

  int64_t size() const; // elements
  /// Element i as a double.
  double at(int64_t i) const;
  const char *typeName() const;
};

/// Reads `path`; keeps at most `limit` rows (dimension 0) when limit > 0.
/// Throws Error naming the file (and the offset for truncated data).
NpyArray readNpy(const std::string &path, int64_t limit = 0);

/// Writes a version 1.0 .npy file (`type` f4, u1, i4 or i8); for tests.
void writeNpy(const std::string &path, NpyArray::Type type,
              const std::vector<int64_t> &shape, const void *data);

} // namespace mtl::rt

#endif // MTL_RUNTIME_NPY_H
