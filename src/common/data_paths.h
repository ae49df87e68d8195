// Where the shared data (model, texts, tokenizers) lives.
//
// The data folder is ${SEEDFORGE_DATA}, else ${SEEDFORGE_DATA_DEFAULT} (set by
// CTest), else ../shared/data relative to the working directory, else (when
// that does not exist) the folder the build was configured with.
#pragma once

#include <string>

namespace seedforge {

std::string data_dir();
// data_dir() + "/" + relative, e.g. data_path("models/stories260K/stories260K.bin").
std::string data_path(const std::string& relative);

}  // namespace seedforge
