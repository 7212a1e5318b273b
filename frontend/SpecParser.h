//===- SpecParser.h - TOML model spec -> Spec AST
//--------------------------===//
//
// Reads a model spec (docs/dsl.md), checks everything that can be checked
// without shapes (keys, types, ranges, names, references between layers),
// and reports every problem it finds through the DiagnosticEngine. Shape
// errors are left to shape inference, which uses the locations kept in the
// AST.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_FRONTEND_SPECPARSER_H
#define MTL_FRONTEND_SPECPARSER_H

#include "frontend/Diagnostics.h"
#include "frontend/Spec.h"

#include <optional>
#include <string>

namespace mtl {

/// Parses the spec file at `path`. Returns nullopt if any error was
/// reported (all of them are, not just the first).
std::optional<spec::Spec> parseSpecFile(const std::string &path,
                                        DiagnosticEngine &diags);

/// Same, for a spec held in memory; `path` is used in locations.
std::optional<spec::Spec> parseSpecString(const std::string &text,
                                          const std::string &path,
                                          DiagnosticEngine &diags);

} // namespace mtl

#endif // MTL_FRONTEND_SPECPARSER_H
