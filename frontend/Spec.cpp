//===- Spec.cpp - The model spec AST --------------------------------------===//

#include "frontend/Spec.h"

namespace mtl::spec {

std::string SourceLoc::str() const {
  // A location without a line (a whole file, e.g. one that cannot be read)
  // prints as just the file, the way compilers do.
  if (line <= 0)
    return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

} // namespace mtl::spec
