#include "io/model_loader.h"

#include "common/error.h"

namespace seedforge {

void check_tokenizer_matches(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& tokenizer_where,
                             const std::string& model_where) {
  if (tokenizer.vocab_size() != config.vocab_size) {
    throw input_error("tokenizer '", tokenizer_where, "' has ", tokenizer.vocab_size(), " tokens but model '", model_where,
                      "' has a vocabulary of ", config.vocab_size, ": they do not belong together");
  }
}

LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path, torch::Device device) {
  LoadedModel out;
  out.checkpoint = load_checkpoint(model_path);
  const Checkpoint& ck = out.checkpoint;
  std::string tokenizer_where;
  if (tokenizer_path.empty() && !ck.tokenizer_bytes.empty()) {
    tokenizer_where = model_path + " (embedded " + ck.tokenizer_kind + " tokenizer)";
    out.tokenizer = load_tokenizer_from_bytes(ck.tokenizer_kind, ck.tokenizer_bytes, tokenizer_where);
  } else {
    tokenizer_where = resolve_tokenizer_path(ck, tokenizer_path);
    out.tokenizer = load_tokenizer(tokenizer_where);
  }
  check_tokenizer_matches(ck.config, *out.tokenizer, tokenizer_where, model_path);
  out.model = build_model(ck.config, ck.tensors, model_path);
  out.model->to(device);
  return out;
}

}  // namespace seedforge
