#include "io/model_loader.h"

#include "common/error.h"
#include "common/release_memory.h"

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

namespace {

// Whatever the Transformer's modules and tables depend on.
bool same_architecture(const ModelConfig& a, const ModelConfig& b) {
  return a.dim == b.dim && a.hidden_dim == b.hidden_dim && a.n_layers == b.n_layers && a.n_heads == b.n_heads &&
         a.n_kv_heads == b.n_kv_heads && a.vocab_size == b.vocab_size && a.max_seq_len == b.max_seq_len &&
         a.rope_theta == b.rope_theta && a.norm_eps == b.norm_eps && a.tie_embeddings == b.tie_embeddings &&
         a.attention_bias == b.attention_bias;
}

}  // namespace

LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path, torch::Device device) {
  LoadedModel out;
  // Where the config is in a header (llama2.c, a Hugging Face folder), the
  // model is built first and its parameters' storage freed; the
  // checkpoint's fp32 tensors then become the parameters. The peak is one
  // fp32 copy (4 bytes a parameter) instead of two: the tensors as read and
  // a model built from them. The readers release the file's mapped pages
  // tensor by tensor (safetensors.h).
  Transformer empty{nullptr};
  if (checkpoint_config_in_header(model_path)) {
    const ModelConfig header = read_checkpoint_header(model_path).config;
    header.validate(model_path);
    empty = Transformer(header);
    release_parameter_storage(empty);
    release_free_memory();  // else the tensors read next do not reuse those pages
  }
  out.checkpoint = load_checkpoint(model_path);
  Checkpoint& ck = out.checkpoint;
  out.tokenizer = load_checkpoint_tokenizer(ck, tokenizer_path, model_path);
  if (empty && same_architecture(empty->config(), ck.config)) {
    adopt_state_dict(empty, std::move(ck.tensors), model_path);
    out.model = empty;
    out.model->eval();
  } else {
    empty = Transformer(nullptr);
    out.model = build_model(ck.config, ck.tensors, model_path);
  }
  // The model holds the weights now: a second fp32 copy for the whole run
  // would double the host memory of a large model.
  ck.tensors.clear();
  ck.tensors.shrink_to_fit();
  out.model->to(device);
  return out;
}

}  // namespace seedforge
