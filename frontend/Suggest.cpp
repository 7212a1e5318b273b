//===- Suggest.cpp - "did you mean" suggestions
//----------------------------===//

#include "frontend/Suggest.h"

#include <algorithm>
#include <cctype>

namespace mtl {

static std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t editDistance(std::string_view a0, std::string_view b0) {
  std::string a = lower(a0), b = lower(b0);
  size_t n = a.size(), m = b.size();
  // Three rows suffice for the transposition rule.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j)
    prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[m];
}

std::optional<std::string>
suggestName(std::string_view word, const std::vector<std::string> &candidates,
            const std::map<std::string, std::string> &aliases) {
  std::string w = lower(word);
  auto alias = aliases.find(w);
  if (alias != aliases.end())
    return alias->second;

  size_t limit = std::max<size_t>(1, w.size() / 3);
  std::optional<std::string> best;
  size_t bestDist = limit + 1;
  for (const std::string &c : candidates) {
    size_t d = editDistance(w, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  if (best)
    return best;

  // Abbreviations and partial names ("acc", "pool", "cross_entropy").
  if (w.size() >= 3)
    for (const std::string &c : candidates) {
      std::string lc = lower(c);
      if (lc.find(w) != std::string::npos ||
          (lc.size() >= 3 && w.find(lc) != std::string::npos))
        return c;
    }
  return std::nullopt;
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i)
      out += ", ";
    out += names[i];
  }
  return out;
}

} // namespace mtl
