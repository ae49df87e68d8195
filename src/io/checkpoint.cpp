// load_checkpoint(): detect the input format by content and hand it to its reader.
#include "io/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "io/hf_folder.h"
#include "io/llama2c_reader.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace seedforge {

namespace {

std::string first_bytes(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// safetensors: u64 little-endian header length, then a JSON object starting with '{'.
bool looks_like_safetensors(const std::string& path, uint64_t size) {
  const std::string head = first_bytes(path, 9);
  if (head.size() < 9 || head[8] != '{') return false;
  uint64_t n = 0;
  std::memcpy(&n, head.data(), 8);
  return n >= 2 && n <= size - 8;
}

}  // namespace

std::string detect_checkpoint_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw input_error("input '", path, "' does not exist");
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "config.json")) return "hf";
    throw input_error("'", path, "' is a folder without config.json: not a Hugging Face model folder");
  }
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw input_error("cannot read '", path, "': ", ec.message());
  if (size == 0) throw input_error("'", path, "' is empty");
  const std::string head = first_bytes(path, 4);
  if (head.size() == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return "pt";
  if (looks_like_safetensors(path, size)) return "safetensors";
  if (looks_like_llama2c(path)) return "llama2c";
  if (!head.empty() && static_cast<uint8_t>(head[0]) == 0x80) {
    throw input_error("'", path, "' is a legacy (pre-1.6, non-zip) PyTorch pickle; re-save it with torch.save in PyTorch >= 1.6");
  }
  if (size >= 28) {
    // Looks like nothing we know; if it was meant as llama2.c, say why it failed.
    try {
      load_llama2c(path);
    } catch (const Error& e) {
      throw input_error("'", path, "' is not a known checkpoint (PyTorch zip, safetensors, llama2.c .bin or HF folder); "
                        "read as llama2.c: ", e.what());
    }
  }
  throw input_error("'", path, "' is not a known checkpoint (PyTorch zip, safetensors, llama2.c .bin or HF folder)");
}

namespace {

// llama2.c checkpoints usually sit beside their tokenizer.
std::string llama2c_tokenizer_beside(const std::string& path) {
  for (const char* name : {"tokenizer.bin", "tok512.bin"}) {
    fs::path candidate = fs::path(path).parent_path() / name;
    if (fs::exists(candidate)) return candidate.string();
  }
  return "";
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  const std::string format = detect_checkpoint_format(path);
  Checkpoint ck;
  if (format == "llama2c") {
    ck = load_llama2c(path);
    ck.tokenizer_path = llama2c_tokenizer_beside(path);
  } else if (format == "pt") {
    ck = load_pt_checkpoint(path);
  } else if (format == "safetensors") {
    ck = load_safetensors_checkpoint(path);
  } else {
    ck = load_hf_folder(path);
  }
  ck.path = path;
  return ck;
}

Checkpoint read_checkpoint_header(const std::string& path) {
  const std::string format = detect_checkpoint_format(path);
  if (format == "llama2c") {
    Checkpoint ck;
    ck.config = read_llama2c_config(path);
    ck.format = format;
    ck.path = path;
    ck.tokenizer_path = llama2c_tokenizer_beside(path);
    return ck;
  }
  if (format == "hf") return read_hf_folder_header(path);
  Checkpoint ck = load_checkpoint(path);  // a state dict's config is read from its tensors
  ck.projection_bytes = projection_element_bytes(ck.tensors, ck.config);
  return ck;
}

bool checkpoint_config_in_header(const std::string& path) {
  const std::string format = detect_checkpoint_format(path);
  return format == "llama2c" || format == "hf";
}

std::string resolve_tokenizer_path(const Checkpoint& checkpoint, const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (!checkpoint.tokenizer_path.empty()) return checkpoint.tokenizer_path;
  throw usage_error("no tokenizer found beside '", checkpoint.path, "': pass --tokenizer PATH");
}

}  // namespace seedforge
