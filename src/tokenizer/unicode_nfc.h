// Unicode Normalization Form C (canonical decomposition, canonical ordering,
// canonical composition; UAX #15), for tokenizer.json normalizers of type "NFC"
// (e.g. Qwen2). Malformed UTF-8 bytes pass through unchanged.
#pragma once

#include <string>

namespace seedforge {

std::string nfc(const std::string& text);

}  // namespace seedforge
