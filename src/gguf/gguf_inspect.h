// `stage1 inspect model.gguf`: what a GGUF file holds (version, metadata,
// tensors with type, shape, bytes and bits a weight), after the reader's
// checks. Torch-free.
#pragma once

#include <string>

namespace seedforge::gguf {

// A text report, or with `json` a JSON document (arrays longer than 8 values
// shown as their length and first values).
std::string inspect_gguf(const std::string& path, bool json);

}  // namespace seedforge::gguf
