//===- Csv.h - Reader for numeric CSV files ------------------------------===//
//
// One sample per line, comma-separated numbers; an optional header line
// (recognized by a cell that is not a number). One column is the label
// (an integer class id; empty, NaN or -1 = missing), the others are the
// features in file order. Errors name file:line:col.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_CSV_H
#define MTL_RUNTIME_CSV_H

#include <cstdint>
#include <string>
#include <vector>

namespace mtl::rt {

struct CsvTable {
  int64_t rows = 0;
  int64_t features = 0;
  std::vector<std::string> header; // empty without a header line
  std::vector<float> values;       // rows x features (NaN for empty cells)
  std::vector<int32_t> labels;     // rows; -1 = missing
};

/// `labelColumn` is a 0-based column index ("0") or a header name. Keeps at
/// most `limit` rows when limit > 0.
CsvTable readCsv(const std::string &path, const std::string &labelColumn,
                 int64_t limit = 0);

} // namespace mtl::rt

#endif // MTL_RUNTIME_CSV_H
