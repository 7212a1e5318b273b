//===- Diagnostics.cpp - Clang-style error reporting
//-----------------------===//

#include "frontend/Diagnostics.h"

#include <iostream>

namespace mtl {

DiagnosticEngine::DiagnosticEngine() : os(&std::cerr) {}
DiagnosticEngine::DiagnosticEngine(std::ostream *os) : os(os) {}

static const char *severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  }
  return "error";
}

static void formatLine(std::string &out, const spec::SourceLoc &loc, Severity s,
                       const std::string &message) {
  std::string where = loc.str();
  if (!where.empty())
    out += where + ": ";
  out += severityName(s);
  out += ": ";
  out += message;
  out += '\n';
}

std::string DiagnosticEngine::format(const Diagnostic &d) {
  std::string out;
  formatLine(out, d.loc, d.severity, d.message);
  for (const DiagNote &n : d.notes)
    // A note without a place of its own belongs to its diagnostic's place.
    formatLine(out, n.loc.line > 0 ? n.loc : d.loc, Severity::Note, n.message);
  return out;
}

void DiagnosticEngine::report(Diagnostic d) {
  if (d.severity == Severity::Error)
    ++numErrors;
  if (os)
    *os << format(d) << std::flush;
  all.push_back(std::move(d));
}

void DiagnosticEngine::error(spec::SourceLoc loc, std::string message,
                             std::vector<DiagNote> notes) {
  report(
      {Severity::Error, std::move(loc), std::move(message), std::move(notes)});
}

void DiagnosticEngine::warning(spec::SourceLoc loc, std::string message,
                               std::vector<DiagNote> notes) {
  report({Severity::Warning, std::move(loc), std::move(message),
          std::move(notes)});
}

} // namespace mtl
