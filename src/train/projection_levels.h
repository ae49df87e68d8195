// bitnet.projection_levels (torch-free): which projections keep more than three weight
// levels. Each entry is "PATTERN:LEVELS": PATTERN a glob (fnmatch: '*', '?',
// '[...]'; '*' crosses dots) over a projection's canonical name without
// ".weight" (e.g. "model.layers.3.mlp.down_proj"; "*.down_proj" names every
// layer's), LEVELS an odd count 3..15 (3 = ternary, 5 = -2..2, 15 = -7..7).
// The last entry that matches a projection wins; a projection no entry
// matches stays ternary. Bytes a weight when packed (codec/packed_levels.h):
// 3 levels 1.6 bits, 5 levels 2.67, 7 to 15 levels 4.
#pragma once

#include <string>
#include <vector>


namespace seedforge {

struct ProjectionLevelsRule {
  std::string pattern;
  int max_level = 1;  // (levels - 1) / 2
};

// usage_error naming `where` and the entry for a malformed one.
std::vector<ProjectionLevelsRule> parse_projection_levels(const std::vector<std::string>& entries,
                                                          const std::string& where);
// BitNetOptions::max_level for the projection `name` (no ".weight"): the last
// matching rule's, else 1.
int projection_max_level(const std::vector<ProjectionLevelsRule>& rules, const std::string& name);
// usage_error naming `where` for a rule that matches none of `projections`:
// a typo would otherwise silently leave everything ternary.
void check_projection_levels_match(const std::vector<ProjectionLevelsRule>& rules,
                                   const std::vector<std::string>& projections, const std::string& where);

}  // namespace seedforge
