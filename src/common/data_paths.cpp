#include "common/data_paths.h"

#include <cstdlib>

namespace seedforge {

std::string data_dir() {
  for (const char* var : {"SEEDFORGE_DATA", "SEEDFORGE_DATA_DEFAULT"}) {
    const char* value = std::getenv(var);
    if (value != nullptr && value[0] != '\0') return value;
  }
  return "../shared/data";
}

std::string data_path(const std::string& relative) { return data_dir() + "/" + relative; }

}  // namespace seedforge
