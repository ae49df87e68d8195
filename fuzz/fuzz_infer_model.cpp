// Fuzz target: a .stage1.pt read by the inference engine's torch-free loader
// (infer/model.h checks every field, repacks the ternary matrices and decodes
// the float ones), then two tokens through a session, so that whatever the
// loader accepts also runs. It takes a path, so the input goes through a file.
#include <cstdint>

#include "fuzz_util.h"
#include "infer/session.h"
#include "zip_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = seedforge::fuzz::write_file("model.stage1.pt", data, size);
  seedforge::fuzz::expect_clean_errors([&] {
    auto model = seedforge::infer::load_model(path);
    seedforge::infer::Session session(model);
    const int32_t tokens[2] = {0, static_cast<int32_t>(model->config.vocab_size - 1)};
    (void)session.forward(tokens, model->config.max_seq_len >= 2 ? 2 : 1, /*all_logits=*/true);
  });
  return 0;
}

// Mutates the records inside the archive too (zip_mutator.h says why).
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return seedforge::fuzz::mutate_zip_records(data, size, max_size, seed);
}
