#include "train/memory_estimate.h"

#include <algorithm>
#include <cstdio>

#include "codec/ternary.h"
#include "common/error.h"

namespace seedforge {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}  // namespace

double MemoryEstimate::total_bytes() const {
  double sum = 0.0;
  for (const auto& [name, bytes] : terms) sum += bytes;
  return sum;
}

std::pair<std::string, double> MemoryEstimate::largest() const {
  std::pair<std::string, double> best{"", -1.0};
  for (const auto& term : terms) {
    if (term.second > best.second) best = term;
  }
  return best;
}

std::string MemoryEstimate::describe() const {
  std::string out;
  for (const auto& [name, bytes] : terms) out += name + " " + format_bytes(bytes) + ", ";
  return out + "total " + format_bytes(total_bytes());
}

std::string format_bytes(double bytes) {
  char buffer[32];
  if (bytes >= kGiB) {
    std::snprintf(buffer, sizeof(buffer), "%.2f GB", bytes / kGiB);
  } else if (bytes >= 1024.0 * 1024.0) {
    std::snprintf(buffer, sizeof(buffer), "%.1f MB", bytes / (1024.0 * 1024.0));
  } else if (bytes >= 1024.0) {
    std::snprintf(buffer, sizeof(buffer), "%.1f KB", bytes / 1024.0);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.0f B", bytes);
  }
  return buffer;
}

double layer_activation_bytes(const ModelConfig& c, const TrainOptions& o, bool bf16) {
  const double tokens = double(o.batch_size) * double(o.seq_len);
  const double ckv = double(c.n_kv_heads * c.head_dim());
  // One layer's saved tensors per token, in elements (see the header).
  const double layer = 20.0 * double(c.dim) + 4.0 * ckv + 5.0 * double(c.hidden_dim) +
                       4.0 * double(c.n_heads) * double(o.seq_len);
  return tokens * layer * (bf16 ? 2.0 : 4.0);
}

int64_t loss_chunk_tokens(int64_t setting, int64_t n_tokens, int64_t vocab) {
  const int64_t n = std::max<int64_t>(n_tokens, 1);
  if (setting > 0) return std::min(setting, n);
  if (setting == 0) return n;
  const int64_t budget = int64_t(128) << 20;  // bytes of fp32 logits a chunk
  return std::clamp<int64_t>(budget / (4 * std::max<int64_t>(vocab, 1)), 1, n);
}

// CUDA: context and workspace. CPU: libtorch, OpenBLAS and the process
// itself, measured idle (`stage1 config --print-defaults`: 163 MiB peak RSS).
double runtime_bytes(bool on_cuda) { return on_cuda ? 0.5 * kGiB : 160.0 * 1024.0 * 1024.0; }

int64_t projection_parameter_count(const ModelConfig& c) {
  const int64_t d = c.head_dim();
  return c.n_layers * (c.dim * c.n_heads * d * 2 + 2 * c.dim * c.n_kv_heads * d + 3 * c.dim * c.hidden_dim);
}

int64_t matrix_parameter_count(const ModelConfig& c) {
  int64_t n = 0;
  for (const ParameterShape& s : parameter_shapes(c)) n += s.shape.size() >= 2 ? s.numel() : 0;
  return n;
}

int64_t ternary_scale_count(const ModelConfig& c, bool per_row_scale, int64_t scale_group) {
  static const std::string suffix = "_proj.weight";
  // The layout the trainer and the encoder use (codec/ternary.h), so the
  // count cannot drift from what they allocate.
  const TernaryScaleLayout layout(per_row_scale ? TernaryScaleMode::kPerRow : TernaryScaleMode::kPerTensor,
                                  per_row_scale ? scale_group : 0);
  int64_t n = 0;
  for (const ParameterShape& s : parameter_shapes(c)) {
    if (s.name.size() < suffix.size() || s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    n += layout.scale_count(s.shape.at(0), s.shape.at(1));
  }
  return n;
}

double teacher_bytes(const ModelConfig& c, bool bf16_matrices) {
  const double p = double(parameter_count(c)), matrices = double(matrix_parameter_count(c));
  return bf16_matrices ? 2.0 * matrices + 4.0 * (p - matrices) : 4.0 * p;
}

MemoryEstimate estimate_training_memory(const ModelConfig& c, const TrainOptions& o, bool with_teacher, bool on_cuda,
                                        bool bf16, bool activation_checkpointing) {
  MemoryEstimate e;
  e.parameters = parameter_count(c);
  const double p = double(e.parameters);
  const double tokens = double(o.batch_size) * double(o.seq_len);
  const double element = bf16 ? 2.0 : 4.0;
  const double layer_bytes = layer_activation_bytes(c, o, bf16);
  const double kept = activation_checkpointing
                          ? double(c.n_layers) * tokens * double(c.dim) * element + layer_bytes
                          : double(c.n_layers) * layer_bytes;
  const double chunk = double(loss_chunk_tokens(o.loss_chunk_tokens, int64_t(tokens), c.vocab_size));
  double logits = chunk * double(c.vocab_size) * 4.0 * (with_teacher ? 6.0 : 3.0);
  if (with_teacher && chunk < tokens) {
    logits += tokens * (o.teacher_top_k > 0 ? 12.0 * double(o.teacher_top_k) + 4.0 : 4.0 * double(c.vocab_size));
  }
  e.terms = {{"weights", 4.0 * p},
             {"gradients", 4.0 * p},
             {"optimizer", 8.0 * p},
             {"teacher", with_teacher ? teacher_bytes(c, on_cuda && bf16) : 0.0},
             {"activations", kept + logits + tokens * double(c.dim) * element},
             // BitLinear's effective weights W + lambda (W_q - W), which the
             // linear keeps for backward (its bf16 copy under bf16).
             {"ternary weights", element * double(projection_parameter_count(c))},
             {"runtime", runtime_bytes(on_cuda)}};
  if (o.learned_scales) {
    // One fp32 gain a ternary scale (BitLinear's "scale_gain"), trained:
    // the value, its gradient and two AdamW moments.
    e.terms.insert(e.terms.end() - 1,
                   {"learned scale gains", 16.0 * double(ternary_scale_count(c, o.per_row_scale, o.scale_group))});
  }
  return e;
}

void check_memory_fits(const MemoryEstimate& e, double max_gb, const std::string& where) {
  const double total = e.total_bytes();
  if (total <= max_gb * kGiB) return;
  const auto [name, bytes] = e.largest();
  std::string hint;
  if (name == "activations") {
    hint = "lower bitnet.batch_size or bitnet.seq_len (raise bitnet.grad_accum to keep the effective batch)";
  } else if (name == "teacher") {
    hint = "set bitnet.kd_weight to 0 to drop the distillation teacher";
  } else if (name.find("float matrices") != std::string::npos) {
    hint = "set bitnet.float_freeze_fraction to 0: the SeedLM float matrices are then frozen from the first step, "
           "with no gradients or AdamW moments";
  } else {
    hint = "the model itself is too large for this budget: raise hardware.max_vram_gb or use a larger GPU";
  }
  throw usage_error(where, ": the estimated training memory ", format_bytes(total), " exceeds hardware.max_vram_gb = ",
                    max_gb, " GB; the largest term is ", name, " (", format_bytes(bytes), "): ", hint, " [",
                    e.describe(), "]");
}

}  // namespace seedforge
