#include "model/model_config.h"

#include "common/error.h"

namespace seedforge {

void ModelConfig::validate(const std::string& where) const {
  auto positive = [&](const char* name, int64_t value) {
    if (value <= 0) throw input_error(where, ": model field '", name, "' must be positive, got ", value);
  };
  positive("dim", dim);
  positive("hidden_dim", hidden_dim);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("vocab_size", vocab_size);
  positive("max_seq_len", max_seq_len);
  if (dim % n_heads != 0) {
    throw input_error(where, ": dim ", dim, " is not a multiple of n_heads ", n_heads);
  }
  if (n_heads % n_kv_heads != 0) {
    throw input_error(where, ": n_heads ", n_heads, " is not a multiple of n_kv_heads ", n_kv_heads);
  }
  if (head_dim() % 2 != 0) throw input_error(where, ": head dim ", head_dim(), " must be even for RoPE");
  if (!(rope_theta > 0)) throw input_error(where, ": rope_theta must be positive");
  if (!(norm_eps > 0)) throw input_error(where, ": norm_eps must be positive");
}

}  // namespace seedforge
