//===- Suggest.h - "did you mean" suggestions
//------------------------------===//
//
// Picks the valid name nearest to a misspelt one, for hints such as
// "unknown op 'conv'; did you mean 'conv2d'?".
//
//===----------------------------------------------------------------------===//
#ifndef MTL_FRONTEND_SUGGEST_H
#define MTL_FRONTEND_SUGGEST_H

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtl {

/// Case-insensitive optimal-string-alignment distance: insertions,
/// deletions, substitutions and transpositions of neighbours cost 1.
size_t editDistance(std::string_view a, std::string_view b);

/// The candidate `word` most likely stands for, if any is close enough:
/// an alias (e.g. "ce" -> "softmax_cross_entropy"), else the nearest by edit
/// distance within a third of the word's length (at least 1), else one that
/// contains the word or is contained in it. Ties go to the earlier
/// candidate.
std::optional<std::string>
suggestName(std::string_view word, const std::vector<std::string> &candidates,
            const std::map<std::string, std::string> &aliases = {});

/// "a, b, c": for notes that list the valid names.
std::string joinNames(const std::vector<std::string> &names);

} // namespace mtl

#endif // MTL_FRONTEND_SUGGEST_H
