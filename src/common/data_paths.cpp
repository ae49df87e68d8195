#include "common/data_paths.h"

#include <cstdlib>
#include <filesystem>

namespace seedforge {

std::string data_dir() {
  for (const char* var : {"SEEDFORGE_DATA", "SEEDFORGE_DATA_DEFAULT"}) {
    const char* value = std::getenv(var);
    if (value != nullptr && value[0] != '\0') return value;
  }
  // ../shared/data from the project root (where the README's commands run);
  // from anywhere else, the folder this build was configured with, so that an
  // installed or copied binary still finds the bundled model.
  const std::string relative = "../shared/data";
#ifdef SEEDFORGE_BUILD_DATA_DIR
  std::error_code ec;
  if (!std::filesystem::is_directory(relative, ec) && std::filesystem::is_directory(SEEDFORGE_BUILD_DATA_DIR, ec)) {
    return SEEDFORGE_BUILD_DATA_DIR;
  }
#endif
  return relative;
}

std::string data_path(const std::string& relative) { return data_dir() + "/" + relative; }

}  // namespace seedforge
