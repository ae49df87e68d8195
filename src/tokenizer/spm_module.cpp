// The SentencePiece module: libsentencepiece behind the C interface of
// spm_module_api.h (see there for why it is a separate shared object).
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

#include "tokenizer/spm_module_api.h"

namespace {

void set_error(char* err, size_t cap, const std::string& message) {
  if (err == nullptr || cap == 0) return;
  const size_t n = std::min(cap - 1, message.size());
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

sentencepiece::SentencePieceProcessor* sp(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* sf_spm_create(const char* model_bytes, size_t n, char* err, size_t errcap) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  const auto status = p->LoadFromSerializedProto(std::string(model_bytes, n));
  if (!status.ok()) {
    set_error(err, errcap, status.ToString());
    delete p;
    return nullptr;
  }
  return p;
}

__attribute__((visibility("default"))) void sf_spm_destroy(void* handle) { delete sp(handle); }

__attribute__((visibility("default"))) int sf_spm_encode(void* handle, const char* text, size_t n, SfSpmEmitIds emit,
                                                         void* ctx, char* err, size_t errcap) {
  std::vector<int> ids;
  const auto status = sp(handle)->Encode(std::string(text, n), &ids);
  if (!status.ok()) {
    set_error(err, errcap, status.ToString());
    return 1;
  }
  std::vector<int32_t> out(ids.begin(), ids.end());
  emit(ctx, out.data(), out.size());
  return 0;
}

__attribute__((visibility("default"))) int sf_spm_decode(void* handle, const int32_t* ids, size_t n, SfSpmEmitBytes emit,
                                                         void* ctx, char* err, size_t errcap) {
  std::string text;
  const auto status = sp(handle)->Decode(std::vector<int>(ids, ids + n), &text);
  if (!status.ok()) {
    set_error(err, errcap, status.ToString());
    return 1;
  }
  emit(ctx, text.data(), text.size());
  return 0;
}

__attribute__((visibility("default"))) int32_t sf_spm_info(void* handle, int what) {
  switch (what) {
    case kSfSpmVocabSize: return sp(handle)->GetPieceSize();
    case kSfSpmBosId: return sp(handle)->bos_id();
    case kSfSpmEosId: return sp(handle)->eos_id();
    default: return -1;
  }
}

__attribute__((visibility("default"))) int sf_spm_id_info(void* handle, int32_t id, int what) {
  switch (what) {
    case kSfSpmIsControl: return sp(handle)->IsControl(id) ? 1 : 0;
    case kSfSpmIsUnknown: return sp(handle)->IsUnknown(id) ? 1 : 0;
    case kSfSpmIsByte: return sp(handle)->IsByte(id) ? 1 : 0;
    default: return 0;
  }
}

__attribute__((visibility("default"))) void sf_spm_piece(void* handle, int32_t id, SfSpmEmitBytes emit, void* ctx) {
  const std::string& piece = sp(handle)->IdToPiece(id);
  emit(ctx, piece.data(), piece.size());
}

__attribute__((visibility("default"))) void sf_spm_serialized(void* handle, SfSpmEmitBytes emit, void* ctx) {
  const std::string bytes = sp(handle)->serialized_model_proto();
  emit(ctx, bytes.data(), bytes.size());
}
}
