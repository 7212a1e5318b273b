//===- Npy.cpp - Reader for NumPy .npy files -----------------------------===//

#include "runtime/Npy.h"
#include "runtime/Error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace mtl::rt {

namespace {

struct FileCloser {
  void operator()(FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

size_t elementSize(NpyArray::Type t) {
  switch (t) {
  case NpyArray::Type::U8:
    return 1;
  case NpyArray::Type::F32:
  case NpyArray::Type::I32:
    return 4;
  case NpyArray::Type::I64:
    return 8;
  }
  return 1;
}

const char *descrOf(NpyArray::Type t) {
  switch (t) {
  case NpyArray::Type::U8:
    return "|u1";
  case NpyArray::Type::F32:
    return "<f4";
  case NpyArray::Type::I32:
    return "<i4";
  case NpyArray::Type::I64:
    return "<i8";
  }
  return "?";
}

// The value of `key` in the header dict: the text after "'key':" up to the
// matching end (a quoted string, a parenthesized tuple, or a word).
std::string headerValue(const std::string &header, const std::string &key,
                        const std::string &path) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos)
    fail("{}: .npy header has no '{}': {}", path, key, header);
  size_t colon = header.find(':', k);
  size_t b = header.find_first_not_of(' ', colon + 1);
  if (colon == std::string::npos || b == std::string::npos)
    fail("{}: malformed .npy header: {}", path, header);
  char open = header[b];
  size_t e;
  if (open == '\'' || open == '"')
    e = header.find(open, b + 1);
  else if (open == '(')
    e = header.find(')', b);
  else
    e = header.find_first_of(",}", b) - 1;
  if (e == std::string::npos || e < b)
    fail("{}: malformed .npy header: {}", path, header);
  return header.substr(b, e - b + 1);
}

} // namespace

int64_t NpyArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

double NpyArray::at(int64_t i) const {
  const uint8_t *p = bytes.data() + i * elementSize(type);
  switch (type) {
  case Type::U8:
    return *p;
  case Type::F32: {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case Type::I32: {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case Type::I64: {
    int64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<double>(v);
  }
  }
  return 0;
}

const char *NpyArray::typeName() const {
  switch (type) {
  case Type::U8:
    return "uint8";
  case Type::F32:
    return "float32";
  case Type::I32:
    return "int32";
  case Type::I64:
    return "int64";
  }
  return "?";
}

NpyArray readNpy(const std::string &path, int64_t limit) {
  errno = 0;
  File f(std::fopen(path.c_str(), "rb"));
  if (!f)
    fail("{}: cannot open: {}", path, std::strerror(errno));
  uint8_t pre[10];
  size_t got = std::fread(pre, 1, 10, f.get());
  if (got < 8 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    fail("{}: not a .npy file (bad magic at offset 0)", path);
  int major = pre[6];
  if (major < 1 || major > 3)
    fail("{}: .npy version {}.{} is not supported", path, major, pre[7]);
  size_t headerLen, offset;
  if (major == 1) {
    if (got < 10)
      fail("{}: truncated .npy header at offset {}", path, got);
    headerLen = pre[8] | (size_t(pre[9]) << 8);
    offset = 10;
  } else {
    uint8_t more[2];
    if (got < 10 || std::fread(more, 1, 2, f.get()) != 2)
      fail("{}: truncated .npy header at offset {}", path, got);
    headerLen = pre[8] | (size_t(pre[9]) << 8) | (size_t(more[0]) << 16) |
                (size_t(more[1]) << 24);
    offset = 12;
  }
  if (headerLen > (1u << 20))
    fail("{}: .npy header length {} at offset 8 is implausible", path,
         headerLen);
  std::string header(headerLen, '\0');
  if (std::fread(header.data(), 1, headerLen, f.get()) != headerLen)
    fail("{}: truncated .npy header: expected {} bytes from offset {}", path,
         headerLen, offset);
  offset += headerLen;

  NpyArray a;
  std::string descr = headerValue(header, "descr", path);
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f4" || descr == "=f4")
    a.type = NpyArray::Type::F32;
  else if (descr == "|u1" || descr == "<u1" || descr == "=u1")
    a.type = NpyArray::Type::U8;
  else if (descr == "<i4" || descr == "=i4")
    a.type = NpyArray::Type::I32;
  else if (descr == "<i8" || descr == "=i8")
    a.type = NpyArray::Type::I64;
  else
    fail("{}: .npy dtype '{}' is not supported (expected little-endian "
         "float32 '<f4', uint8 '|u1', int32 '<i4' or int64 '<i8')",
         path, descr);
  std::string fortran = headerValue(header, "fortran_order", path);
  if (fortran.rfind("True", 0) == 0)
    fail("{}: .npy array is in Fortran order; save it in C order "
         "(np.ascontiguousarray)",
         path);
  std::string shape = headerValue(header, "shape", path);
  for (size_t i = 1; i < shape.size();) {
    size_t j = shape.find_first_of(",)", i);
    std::string tok = shape.substr(i, j - i);
    size_t s = tok.find_first_not_of(' ');
    if (s != std::string::npos) {
      tok = tok.substr(s);
      char *end = nullptr;
      long long v = std::strtoll(tok.c_str(), &end, 10);
      while (end && *end == ' ')
        ++end;
      if (!end || *end != '\0' || end == tok.c_str() || v < 0)
        fail("{}: bad .npy shape {}", path, shape);
      a.shape.push_back(v);
    }
    if (j == std::string::npos)
      break;
    i = j + 1;
  }
  if (a.shape.empty())
    fail("{}: .npy array is a scalar; expected at least one dimension", path);
  if (limit > 0 && a.shape[0] > limit)
    a.shape[0] = limit;
  size_t n = static_cast<size_t>(a.size()) * elementSize(a.type);
  a.bytes.resize(n);
  size_t read = n ? std::fread(a.bytes.data(), 1, n, f.get()) : 0;
  if (read != n)
    fail("{}: truncated .npy data: expected {} bytes from offset {}, the file "
         "ends at offset {}",
         path, n, offset, offset + read);
  return a;
}

void writeNpy(const std::string &path, NpyArray::Type type,
              const std::vector<int64_t> &shape, const void *data) {
  std::string shapeStr = "(";
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    shapeStr += (i ? ", " : "") + std::to_string(shape[i]);
    count *= shape[i];
  }
  shapeStr += shape.size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descrOf(type) +
                       "', 'fortran_order': False, 'shape': " + shapeStr +
                       ", }";
  while ((10 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  File f(std::fopen(path.c_str(), "wb"));
  if (!f)
    fail("{}: cannot create: {}", path, std::strerror(errno));
  uint8_t pre[10] = {0x93,
                     'N',
                     'U',
                     'M',
                     'P',
                     'Y',
                     1,
                     0,
                     static_cast<uint8_t>(header.size() & 0xff),
                     static_cast<uint8_t>(header.size() >> 8)};
  size_t n = static_cast<size_t>(count) * elementSize(type);
  if (std::fwrite(pre, 1, 10, f.get()) != 10 ||
      std::fwrite(header.data(), 1, header.size(), f.get()) != header.size() ||
      (n && std::fwrite(data, 1, n, f.get()) != n))
    fail("{}: write failed", path);
}

} // namespace mtl::rt
