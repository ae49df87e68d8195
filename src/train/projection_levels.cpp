#include "train/projection_levels.h"

#include <fnmatch.h>

#include "common/error.h"
#include "train/bit_linear_options.h"

namespace seedforge {

std::vector<ProjectionLevelsRule> parse_projection_levels(const std::vector<std::string>& entries,
                                                          const std::string& where) {
  std::vector<ProjectionLevelsRule> rules;
  for (const std::string& entry : entries) {
    const size_t colon = entry.rfind(':');
    auto bad = [&](const std::string& why) {
      return usage_error(where, ": bitnet.projection_levels entry \"", entry, "\": ", why,
                         " (expected \"PATTERN:LEVELS\", e.g. \"*.mlp.down_proj:5\")");
    };
    if (colon == std::string::npos || colon == 0) throw bad("no pattern before a ':'");
    const std::string count = entry.substr(colon + 1);
    if (count.empty() || count.size() > 2 || count.find_first_not_of("0123456789") != std::string::npos) {
      throw bad("LEVELS is not a number");
    }
    const int levels = std::stoi(count);
    if (levels < 3 || levels > 2 * kMaxWeightLevel + 1 || levels % 2 == 0) {
      throw bad("LEVELS must be odd, 3 to " + std::to_string(2 * kMaxWeightLevel + 1));
    }
    rules.push_back({entry.substr(0, colon), (levels - 1) / 2});
  }
  return rules;
}

int projection_max_level(const std::vector<ProjectionLevelsRule>& rules, const std::string& name) {
  int level = 1;
  for (const ProjectionLevelsRule& rule : rules) {
    if (fnmatch(rule.pattern.c_str(), name.c_str(), 0) == 0) level = rule.max_level;
  }
  return level;
}

void check_projection_levels_match(const std::vector<ProjectionLevelsRule>& rules,
                                   const std::vector<std::string>& projections, const std::string& where) {
  for (const ProjectionLevelsRule& rule : rules) {
    bool any = false;
    for (const std::string& name : projections) any = any || fnmatch(rule.pattern.c_str(), name.c_str(), 0) == 0;
    if (!any) {
      throw usage_error(where, ": bitnet.projection_levels pattern \"", rule.pattern,
                        "\" matches no projection (names look like \"",
                        projections.empty() ? std::string("model.layers.0.mlp.down_proj") : projections.back(), "\")");
    }
  }
}

}  // namespace seedforge
