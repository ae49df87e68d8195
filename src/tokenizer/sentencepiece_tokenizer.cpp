#include "tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "common/error.h"
#include "tokenizer/spm_module_api.h"

namespace seedforge {

// The module's entry points, resolved once per process.
struct SentencePieceTokenizer::Module {
  decltype(&sf_spm_create) create = nullptr;
  decltype(&sf_spm_destroy) destroy = nullptr;
  decltype(&sf_spm_encode) encode = nullptr;
  decltype(&sf_spm_decode) decode = nullptr;
  decltype(&sf_spm_info) info = nullptr;
  decltype(&sf_spm_id_info) id_info = nullptr;
  decltype(&sf_spm_piece) piece = nullptr;
  decltype(&sf_spm_serialized) serialized = nullptr;
};

namespace {

const std::string kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
const std::string kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ ", what DecodeIds prints for <unk>

std::vector<std::string> module_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("SEEDFORGE_SPM_MODULE"); env != nullptr && env[0] != '\0') paths.push_back(env);
#ifdef SEEDFORGE_SPM_MODULE_PATH
  paths.push_back(SEEDFORGE_SPM_MODULE_PATH);
#endif
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back((exe.parent_path() / "libseedforge_spm.so").string());
  return paths;
}

void append_ids(void* ctx, const int32_t* ids, size_t n) { static_cast<std::vector<int32_t>*>(ctx)->assign(ids, ids + n); }
void append_bytes(void* ctx, const char* bytes, size_t n) { static_cast<std::string*>(ctx)->append(bytes, n); }

// dlopen flags for the module. RTLD_DEEPBIND keeps libsentencepiece's bundled
// protobuf apart from libtorch's (spm_module_api.h), but ASan's runtime aborts
// on it (google/sanitizers#611), so sanitizer builds go without: safe in
// processes without libtorch (the tokenizer tests and fuzz target), which are
// the ones that load the module under ASan.
#if defined(__SANITIZE_ADDRESS__)
#define SEEDFORGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEEDFORGE_ASAN 1
#endif
#endif
#ifdef SEEDFORGE_ASAN
constexpr int kModuleDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kModuleDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

const SentencePieceTokenizer::Module* load_module_once(const std::string& where) {
  static std::mutex mutex;
  static SentencePieceTokenizer::Module module;
  static bool loaded = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return &module;
  std::string tried;
  void* lib = nullptr;
  for (const std::string& path : module_candidates()) {
    if (!std::filesystem::exists(path)) {
      tried += " " + path + " (missing)";
      continue;
    }
    lib = dlopen(path.c_str(), kModuleDlopenFlags);
    if (lib != nullptr) break;
    tried += " " + path + " (" + dlerror() + ")";
  }
  if (lib == nullptr) {
    throw runtime_error("SentencePiece model '", where, "': cannot load the SentencePiece module libseedforge_spm.so;",
                        " tried:", tried, ". Set SEEDFORGE_SPM_MODULE to its path.");
  }
  auto get = [&](const char* name) {
    void* fn = dlsym(lib, name);
    if (fn == nullptr) throw runtime_error("SentencePiece module lacks ", name);
    return fn;
  };
  module.create = reinterpret_cast<decltype(module.create)>(get("sf_spm_create"));
  module.destroy = reinterpret_cast<decltype(module.destroy)>(get("sf_spm_destroy"));
  module.encode = reinterpret_cast<decltype(module.encode)>(get("sf_spm_encode"));
  module.decode = reinterpret_cast<decltype(module.decode)>(get("sf_spm_decode"));
  module.info = reinterpret_cast<decltype(module.info)>(get("sf_spm_info"));
  module.id_info = reinterpret_cast<decltype(module.id_info)>(get("sf_spm_id_info"));
  module.piece = reinterpret_cast<decltype(module.piece)>(get("sf_spm_piece"));
  module.serialized = reinterpret_cast<decltype(module.serialized)>(get("sf_spm_serialized"));
  loaded = true;
  return &module;
}
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& bytes, const std::string& where)
    : where_(where), module_(load_module_once(where)) {
  char err[512] = {0};
  handle_ = module_->create(bytes.data(), bytes.size(), err, sizeof err);
  if (handle_ == nullptr) {
    throw input_error("SentencePiece model '", where, "': cannot parse the ModelProto (", bytes.size(), " bytes): ", err);
  }
  vocab_size_ = module_->info(handle_, kSfSpmVocabSize);
  bos_id_ = module_->info(handle_, kSfSpmBosId);
  eos_id_ = module_->info(handle_, kSfSpmEosId);
  if (vocab_size_ <= 0) {
    module_->destroy(handle_);
    throw input_error("SentencePiece model '", where, "': empty vocabulary");
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (handle_ != nullptr) module_->destroy(handle_);
}

int32_t SentencePieceTokenizer::vocab_size() const { return vocab_size_; }
int32_t SentencePieceTokenizer::bos_id() const { return bos_id_; }
int32_t SentencePieceTokenizer::eos_id() const { return eos_id_; }

std::string SentencePieceTokenizer::to_bytes() const {
  std::string bytes;
  module_->serialized(handle_, append_bytes, &bytes);
  return bytes;
}

std::string SentencePieceTokenizer::piece(int32_t id) const {
  std::string text;
  module_->piece(handle_, id, append_bytes, &text);
  return text;
}

void SentencePieceTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw input_error("SentencePiece model '", where_, "': token id ", id, " is out of range [0, ", vocab_size(), ")");
  }
}

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  char err[512] = {0};
  if (module_->encode(handle_, text.data(), text.size(), append_ids, &ids, err, sizeof err) != 0) {
    throw runtime_error("SentencePiece model '", where_, "': encode failed: ", err);
  }
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  for (const int32_t id : ids) check_id(id);
  std::string text;
  char err[512] = {0};
  if (module_->decode(handle_, ids.data(), ids.size(), append_bytes, &text, err, sizeof err) != 0) {
    throw runtime_error("SentencePiece model '", where_, "': decode failed: ", err);
  }
  return text;
}

std::string SentencePieceTokenizer::decode_piece(int32_t previous, int32_t id) const {
  check_id(id);
  if (module_->id_info(handle_, id, kSfSpmIsControl)) return "";
  if (module_->id_info(handle_, id, kSfSpmIsUnknown)) return kUnknownSurface;
  const std::string p = piece(id);
  if (module_->id_info(handle_, id, kSfSpmIsByte)) {
    // Byte pieces are "<0xXX>".
    return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
  }
  std::string text;
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      text += ' ';
      i += kSpaceMarker.size();
    } else {
      text += p[i++];
    }
  }
  if (previous == bos_id() && previous >= 0 && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

}  // namespace seedforge
