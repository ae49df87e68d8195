// C interface of the SentencePiece module (libseedforge_spm.so).
//
// Why a separate, dlopen()ed module: Debian's libsentencepiece.so.0 carries
// its own copy of protobuf-lite 3.14 and exports its symbols, while libtorch
// links the system libprotobuf.so.32 (3.21). Linked into one process, the two
// interpose each other's symbols and the process crashes in a static
// initializer before main(). Loaded with RTLD_LOCAL | RTLD_DEEPBIND, the
// module and libsentencepiece resolve protobuf within themselves and libtorch
// keeps the system one. Plain C types only cross the boundary.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

using SfSpmEmitIds = void (*)(void* ctx, const int32_t* ids, size_t n);
using SfSpmEmitBytes = void (*)(void* ctx, const char* bytes, size_t n);

enum SfSpmInfo { kSfSpmVocabSize = 0, kSfSpmBosId = 1, kSfSpmEosId = 2 };
enum SfSpmIdInfo { kSfSpmIsControl = 0, kSfSpmIsUnknown = 1, kSfSpmIsByte = 2 };

// Each returns 0 on success; on failure writes a message to err (errcap bytes).
void* sf_spm_create(const char* model_bytes, size_t n, char* err, size_t errcap);
void sf_spm_destroy(void* handle);
int sf_spm_encode(void* handle, const char* text, size_t n, SfSpmEmitIds emit, void* ctx, char* err, size_t errcap);
int sf_spm_decode(void* handle, const int32_t* ids, size_t n, SfSpmEmitBytes emit, void* ctx, char* err, size_t errcap);
int32_t sf_spm_info(void* handle, int what);
int sf_spm_id_info(void* handle, int32_t id, int what);
void sf_spm_piece(void* handle, int32_t id, SfSpmEmitBytes emit, void* ctx);
void sf_spm_serialized(void* handle, SfSpmEmitBytes emit, void* ctx);
}
