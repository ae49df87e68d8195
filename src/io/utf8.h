// UTF-8 validation for text fields of binary formats (pickle strings,
// safetensors headers): well-formed sequences only, no overlongs, no
// surrogates, nothing above U+10FFFF. Torch-free.
#pragma once

#include <cstddef>
#include <string>

namespace seedforge {

// Returns the byte offset of the first invalid sequence, or std::string::npos.
size_t find_invalid_utf8(const char* data, size_t size);
inline bool is_valid_utf8(const std::string& s) { return find_invalid_utf8(s.data(), s.size()) == std::string::npos; }

}  // namespace seedforge
