#include "io/model_loader.h"

#include "common/error.h"

namespace seedforge {

void check_tokenizer_matches(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& tokenizer_where,
                             const std::string& model_where) {
  infer::check_vocabulary(config, tokenizer, tokenizer_where, model_where);
}

std::unique_ptr<Tokenizer> load_checkpoint_tokenizer(const Checkpoint& ck, const std::string& tokenizer_path,
                                                     const std::string& model_path) {
  std::string tokenizer_where;
  std::unique_ptr<Tokenizer> tokenizer;
  if (tokenizer_path.empty() && !ck.tokenizer_bytes.empty()) {
    tokenizer_where = model_path + " (embedded " + ck.tokenizer_kind + " tokenizer)";
    tokenizer = load_tokenizer_from_bytes(ck.tokenizer_kind, ck.tokenizer_bytes, tokenizer_where);
  } else {
    tokenizer_where = resolve_tokenizer_path(ck, tokenizer_path);
    tokenizer = load_tokenizer(tokenizer_where);
  }
  check_tokenizer_matches(ck.config, *tokenizer, tokenizer_where, model_path);
  return tokenizer;
}

LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path, torch::Device device) {
  LoadedModel out;
  out.checkpoint = load_checkpoint(model_path);
  Checkpoint& ck = out.checkpoint;
  out.tokenizer = load_checkpoint_tokenizer(ck, tokenizer_path, model_path);
  out.model = build_model(ck.config, ck.tensors, model_path);
  // The model holds the weights now: a second fp32 copy for the whole run
  // would double the host memory of a large model.
  ck.tensors.clear();
  ck.tensors.shrink_to_fit();
  out.model->to(device);
  return out;
}

}  // namespace seedforge
