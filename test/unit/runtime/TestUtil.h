//===- TestUtil.h - Helpers shared by the runtime tests -------------------===//
#ifndef MTL_TEST_RUNTIME_TESTUTIL_H
#define MTL_TEST_RUNTIME_TESTUTIL_H

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace mtl::rt::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its files.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/mtlrt-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
      std::abort();
    dir = buf.data();
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + dir + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  }
  std::string path(const std::string &name) const { return dir + "/" + name; }
  std::string dir;
};

inline std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

} // namespace mtl::rt::test

#endif // MTL_TEST_RUNTIME_TESTUTIL_H
