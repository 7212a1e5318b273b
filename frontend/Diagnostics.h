//===- Diagnostics.h - Clang-style error reporting
//-------------------------===//
//
// Every user mistake in a spec is reported as `file:line:col: error: ...`,
// optionally followed by `file:line:col: note: ...` hints. The engine prints
// each diagnostic as it is reported and keeps them, so that a stage can
// report all the errors it finds and callers (tools, unit tests) can ask
// afterwards whether any occurred.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_FRONTEND_DIAGNOSTICS_H
#define MTL_FRONTEND_DIAGNOSTICS_H

#include "frontend/Spec.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace mtl {

enum class Severity { Error, Warning, Note };

/// A hint attached to a diagnostic; it may point elsewhere (e.g. at the
/// first definition of a duplicated name).
struct DiagNote {
  spec::SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  spec::SourceLoc loc;
  std::string message;
  std::vector<DiagNote> notes;
};

class DiagnosticEngine {
public:
  /// Prints to stderr.
  DiagnosticEngine();
  /// Prints to `os`; nullptr only collects (for unit tests).
  explicit DiagnosticEngine(std::ostream *os);

  void report(Diagnostic d);
  void error(spec::SourceLoc loc, std::string message,
             std::vector<DiagNote> notes = {});
  void warning(spec::SourceLoc loc, std::string message,
               std::vector<DiagNote> notes = {});

  unsigned errorCount() const { return numErrors; }
  bool hasErrors() const { return numErrors != 0; }
  const std::vector<Diagnostic> &diagnostics() const { return all; }

  /// The printed form: one line per diagnostic and note, each ending in '\n'.
  static std::string format(const Diagnostic &d);

private:
  std::ostream *os;
  std::vector<Diagnostic> all;
  unsigned numErrors = 0;
};

} // namespace mtl

#endif // MTL_FRONTEND_DIAGNOSTICS_H
