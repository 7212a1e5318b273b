//===- Error.h - The one exception type of the runtime --------------------===//
//
// Every user-facing failure (bad flag, missing file, corrupt checkpoint,
// malformed descriptor) is an mtl::rt::Error whose message is complete on its
// own; Main.cpp prints it as `model: error: <message>` and exits non-zero.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_ERROR_H
#define MTL_RUNTIME_ERROR_H

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace mtl::rt {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string &message) : std::runtime_error(message) {}
};

/// Throws an Error with an fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args &&...args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

} // namespace mtl::rt

#endif // MTL_RUNTIME_ERROR_H
