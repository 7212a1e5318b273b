//===- Csv.cpp - Reader for numeric CSV files ----------------------------===//

#include "runtime/Csv.h"
#include "runtime/Error.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace mtl::rt {

namespace {

struct Cell {
  std::string text;
  int col; // 1-based column of its first character
};

std::vector<Cell> splitLine(const std::string &line) {
  std::vector<Cell> cells;
  size_t start = 0;
  while (true) {
    size_t end = line.find(',', start);
    std::string raw = line.substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    size_t b = raw.find_first_not_of(" \t\r\"");
    size_t e = raw.find_last_not_of(" \t\r\"");
    cells.push_back(
        {b == std::string::npos ? "" : raw.substr(b, e - b + 1),
         static_cast<int>(start + (b == std::string::npos ? 0 : b) + 1)});
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return cells;
}

bool isMissing(const std::string &s) {
  return s.empty() || s == "nan" || s == "NaN" || s == "NAN" || s == "NA";
}

// Parses a whole cell as a number; NaN for a missing value.
bool parseNumber(const std::string &s, double &out) {
  if (isMissing(s)) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  char *end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return end && *end == '\0' && end != s.c_str();
}

} // namespace

CsvTable readCsv(const std::string &path, const std::string &labelColumn,
                 int64_t limit) {
  std::ifstream in(path);
  if (!in)
    fail("{}: cannot open: {}", path, std::strerror(errno));
  CsvTable t;
  std::string line;
  int lineNo = 0;
  int64_t columns = -1, label = -1;
  bool labelIsIndex =
      !labelColumn.empty() &&
      labelColumn.find_first_not_of("0123456789") == std::string::npos;
  if (labelIsIndex)
    label = std::stoll(labelColumn);
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    std::vector<Cell> cells = splitLine(line);
    if (columns < 0) {
      columns = static_cast<int64_t>(cells.size());
      double v;
      bool header = false;
      for (const Cell &c : cells)
        header |= !parseNumber(c.text, v);
      if (header) {
        for (const Cell &c : cells)
          t.header.push_back(c.text);
        if (!labelIsIndex) {
          for (size_t i = 0; i < cells.size(); ++i)
            if (cells[i].text == labelColumn)
              label = static_cast<int64_t>(i);
          if (label < 0)
            fail("{}:{}:1: no column named '{}' in the header (columns: {})",
                 path, lineNo, labelColumn, fmt::join(t.header, ", "));
        }
      } else if (!labelIsIndex) {
        fail("{}:{}:1: label column '{}' is a name, but the file has no "
             "header line",
             path, lineNo, labelColumn);
      }
      if (label >= columns)
        fail("{}:{}:1: label column {} does not exist: the file has {} "
             "columns",
             path, lineNo, label, columns);
      if (columns < 2)
        fail("{}:{}:1: a CSV sample needs a label and at least one feature",
             path, lineNo);
      t.features = columns - 1;
      if (header)
        continue;
    }
    if (static_cast<int64_t>(cells.size()) != columns)
      fail("{}:{}:{}: {} columns, expected {} as in the first line", path,
           lineNo, cells.back().col, cells.size(), columns);
    if (limit > 0 && t.rows >= limit)
      break;
    for (int64_t c = 0; c < columns; ++c) {
      const Cell &cell = cells[c];
      double v;
      if (!parseNumber(cell.text, v))
        fail("{}:{}:{}: '{}' is not a number", path, lineNo, cell.col,
             cell.text);
      if (c == label) {
        if (std::isnan(v) || v == -1.0) {
          t.labels.push_back(-1);
        } else if (v != std::floor(v) || v < 0 || v > 2147483647.0) {
          fail("{}:{}:{}: label '{}' is not a class id (a non-negative "
               "integer; empty, NaN or -1 for a missing label)",
               path, lineNo, cell.col, cell.text);
        } else {
          t.labels.push_back(static_cast<int32_t>(v));
        }
      } else {
        t.values.push_back(static_cast<float>(v));
      }
    }
    ++t.rows;
  }
  if (in.bad())
    fail("{}: read error", path);
  if (t.rows == 0)
    fail("{}: no samples", path);
  return t;
}

} // namespace mtl::rt
