// Fuzz target: a GGUF file read by seedforge's reader (gguf/gguf_file.h
// checks every header field) and, when it parses, loaded into the engine
// (gguf/gguf_model.h) and run for two tokens, so that whatever the loader
// accepts also runs; every ternary and float tensor is dequantized on the way.
#include <cstdint>

#include "fuzz_util.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_model.h"
#include "infer/model.h"
#include "infer/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seedforge::fuzz::expect_clean_errors([&] { (void)seedforge::gguf::parse(data, size, "fuzz.gguf"); });
  const std::string path = seedforge::fuzz::write_file("model.gguf", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    auto model = seedforge::gguf::load_gguf_model(path);
    seedforge::infer::Session session(model);
    const int32_t tokens[2] = {0, static_cast<int32_t>(model->config.vocab_size - 1)};
    (void)session.forward(tokens, model->config.max_seq_len >= 2 ? 2 : 1, /*all_logits=*/true);
  });
  return 0;
}
