// Phase-by-phase memory of a Stage-1 run (see stage1_memory.h).
#include "pipeline/stage1_memory.h"

#include <algorithm>

#include "common/error.h"
#include "eval/text_eval.h"
#include "train/teacher_targets.h"

namespace seedforge {

namespace {

// One evaluation forward of `tokens` tokens without autograd: the fp32 logits
// and their log-softmax (2 V a token), the widest layer intermediates alive
// at once (SwiGLU's three F-wide tensors, a few C-wide ones), and one layer's
// attention scores and softmax for a batch of max_seq_len-token windows, as
// many rows as the batching gives them (eval_batch_rows, text_eval.h).
double eval_batch_bytes(const ModelConfig& c, int64_t tokens) {
  const double per_token = 2.0 * double(c.vocab_size) + 3.0 * double(c.hidden_dim) + 6.0 * double(c.dim);
  const double positions = double(std::max<int64_t>(c.max_seq_len - 1, 1));
  const double rows = double(eval_batch_rows(c.max_seq_len, tokens, c.n_heads));
  return 4.0 * double(tokens) * per_token + 8.0 * rows * double(c.n_heads) * positions * positions;
}

// Fp32 parameters of one decoder layer (norms, projections, biases).
double layer_parameters(const ModelConfig& c) {
  return double(parameter_count(c) - c.vocab_size * c.dim * (c.tie_embeddings ? 1 : 2) - c.dim) /
         double(std::max<int64_t>(c.n_layers, 1));
}

// An evaluation streamed layer by layer onto the GPU (text_eval.h): one
// layer, then the final norm and the head, are on the device beside one
// batch; the hidden states of every batch wait on the host (fp32).
void add_streamed_evaluation(PhaseMemory& phase, const ModelConfig& c, double eval, int64_t eval_tokens) {
  phase.host.terms.emplace_back("hidden states of the evaluation text", 4.0 * double(eval_tokens) * double(c.dim));
  phase.device.terms = {{"one layer, then the head", 4.0 * std::max(layer_parameters(c), double(c.vocab_size * c.dim))},
                        {"evaluation batch", eval},
                        {"runtime", runtime_bytes(true)}};
}

const PhaseMemory& peak(const std::vector<PhaseMemory>& phases, bool device) {
  size_t best = 0;
  for (size_t i = 1; i < phases.size(); ++i) {
    const auto& a = device ? phases[i].device : phases[i].host;
    const auto& b = device ? phases[best].device : phases[best].host;
    if (a.total_bytes() > b.total_bytes()) best = i;
  }
  return phases.at(best);
}

}  // namespace

Stage1MemoryInputs stage1_memory_inputs(const Stage1Config& config, const ModelConfig& model, const TrainOptions& train,
                                        bool fine_tune) {
  Stage1MemoryInputs in;
  in.model = model;
  in.train = train;
  in.fine_tune = fine_tune;
  in.cuda = config.hardware.device == Device::kCuda;
  in.bf16 = train.bf16 < 0 ? in.cuda : train.bf16 == 1;
  in.activation_checkpointing = train.activation_checkpointing < 0 ? in.cuda : train.activation_checkpointing == 1;
  in.float_matrices_frozen =
      config.encoding.float_matrices == FloatEncoding::kSeedlm && config.bitnet.float_freeze_fraction == 0.0;
  return in;
}

std::vector<PhaseMemory> estimate_stage1_memory(const Stage1MemoryInputs& in) {
  const ModelConfig& c = in.model;
  const double p = double(parameter_count(c));
  const double weights = 4.0 * p;  // one fp32 copy of the model
  // The ternary scales of all projections (each with a gain under learned scales).
  const double scale_count = double(ternary_scale_count(c, in.train.per_row_scale, in.train.scale_group));
  const double eval = eval_batch_bytes(c, in.eval_batch_tokens);
  const bool teacher = in.train.kd_weight > 0.0;
  std::vector<PhaseMemory> out;

  double largest_float = 0.0;  // elements of the largest matrix
  for (const ParameterShape& s : parameter_shapes(c)) {
    if (s.shape.size() >= 2) largest_float = std::max(largest_float, double(s.numel()));
  }

  PhaseMemory load{"load", {}, {}};
  load.host.parameters = load.device.parameters = int64_t(p);
  if (in.config_in_header) {
    // The checkpoint's fp32 tensors become the model's parameters; a
    // safetensors reader holds one tensor's mapped pages at a time.
    load.host.terms = {{"model (the checkpoint's tensors)", weights}, {"one tensor as read", 4.0 * largest_float}};
  } else {
    load.host.terms = {{"weights as read", weights}, {"model", weights}, {"input file", double(in.input_file_bytes)}};
  }
  out.push_back(load);

  // Block-wise keeps the original on the host and streams its layers to the
  // GPU; end-to-end moves it there whole (run_stage1.cpp). Block-wise holds
  // its projection matrices in 16 bits when the checkpoint does.
  const bool original_on_host = in.train.mode == "blockwise";
  const double projections = double(projection_parameter_count(c));
  const double original = original_on_host
                              ? double(in.original_projection_bytes) * projections + 4.0 * (p - projections)
                              : weights;
  PhaseMemory baseline{"baseline evaluation", {}, {}};
  if (in.cuda && original_on_host) {
    baseline.host.terms = {{"original", original}};
    add_streamed_evaluation(baseline, c, eval, in.eval_tokens);
  } else if (in.cuda) {
    baseline.host.terms = {{"original", 0.0}};
    baseline.device.terms = {{"original", weights}, {"evaluation batch", eval}, {"runtime", runtime_bytes(true)}};
  } else {
    baseline.host.terms = {{"original", original}, {"evaluation batch", eval}};
  }
  out.push_back(baseline);

  const double stream = 12.0 * double(in.train_tokens);  // int32 tokens + their int64 tensor
  if (in.fine_tune && in.train.mode == "blockwise") {
    // One block trains at a time (blockwise.h): its student copy with
    // gradients and AdamW (16 bytes a parameter), the original's block for
    // the targets, one block's activations, a batch of inputs and targets;
    // the calibration inputs and targets of all N windows stay on the host.
    const double block_params = layer_parameters(c);
    const double block_projections = projections / double(std::max<int64_t>(c.n_layers, 1));
    const double element = in.bf16 ? 2.0 : 4.0;
    const double windows = double(std::min(in.train.block_windows, std::max<int64_t>(in.train_windows, 1)));
    const double calibration = 2.0 * windows * double(in.train.seq_len) * double(c.dim) * element;
    const double batch = 2.0 * double(in.train.batch_size * in.train.seq_len * c.dim) * element;
    std::vector<std::pair<std::string, double>> block = {
        {"student block (weights, gradients, AdamW)", 16.0 * block_params},
        {"original block", double(in.original_projection_bytes) * block_projections +
                               4.0 * (block_params - block_projections)},
        {"block activations", layer_activation_bytes(c, in.train, in.bf16)},
        {"input and target batch", batch}};
    // A 16-bit projection of the original is widened for each product.
    if (in.original_projection_bytes < 4 && !in.bf16) {
      block.emplace_back("one original projection widened", 4.0 * double(c.dim) *
                                                                 double(std::max(c.hidden_dim, c.n_heads * c.head_dim())));
    }
    // Learned scales: one fp32 gain a ternary scale, the block's trained
    // (value, gradient, AdamW: 16 bytes), every block's kept in the student.
    const double gains = in.train.learned_scales ? scale_count : 0.0;
    if (gains > 0.0) block.emplace_back("learned scale gains of the block", 16.0 * gains / double(c.n_layers));
    PhaseMemory bw{"block-wise fine-tuning", {}, {}};
    bw.host.terms = {{"original", original}, {"student", weights + 4.0 * gains},
                     {"calibration inputs and targets", calibration}, {"token stream", stream}};
    if (in.cuda) {
      bw.device.terms = block;
      bw.device.terms.emplace_back("runtime", runtime_bytes(true));
    } else {
      for (const auto& term : block) {
        if (term.first != "original block") bw.host.terms.push_back(term);  // the host's original is used in place
      }
    }
    out.push_back(bw);
    if (in.train.e2e_steps > 0) {
      // The trits are frozen as int8 (BitLinearImpl::freeze_trits): the
      // projections cost 1 byte a weight plus their scales (gamma0 and its
      // trained gain); the scales, norms and float matrices train (gradients
      // and AdamW); the whole model's activations; a frozen layer rebuilds
      // one projection's W (compute dtype) and its dW (fp32) at a time.
      const double rest = p - projections;  // embeddings, head, norms, biases
      const double float_matrices = double(matrix_parameter_count(c)) - projections;
      const double trained = scale_count + rest - (in.float_matrices_frozen ? float_matrices : 0.0);
      const double widest = double(c.dim) * double(std::max(c.hidden_dim, c.n_heads * c.head_dim()));
      const MemoryEstimate whole = estimate_training_memory(c, in.train, teacher, in.cuda, in.bf16, in.activation_checkpointing);
      double activations = 0.0;
      for (const auto& [name, bytes] : whole.terms) {
        if (name == "activations") activations = bytes;
      }
      PhaseMemory e2e{"end-to-end phase", {}, {}};
      std::vector<std::pair<std::string, double>> terms = {
          {"student (int8 trits, scales, the rest fp32)", projections + 8.0 * scale_count + 4.0 * rest},
          {in.float_matrices_frozen ? "gradients and AdamW of scales and norms"
                                    : "gradients and AdamW of scales, norms and float matrices",
           12.0 * trained},
          {"activations", activations},
          {"one projection rebuilt", (element + 4.0) * widest}};
      if (in.cuda) {
        // The teacher is the original moved to the device (matrices in bf16
        // under bf16); without distillation the original stays on the host.
        e2e.device.terms = terms;
        e2e.device.terms.emplace_back("teacher", teacher ? (in.bf16 ? teacher_bytes(c, true) : original) : 0.0);
        e2e.device.terms.emplace_back("runtime", runtime_bytes(true));
        e2e.host.terms = {{"original", teacher ? 0.0 : original}, {"token stream", stream}};
      } else {
        e2e.host.terms = terms;
        e2e.host.terms.emplace_back("original (the teacher when distilling)", original);
        e2e.host.terms.emplace_back("token stream", stream);
      }
      out.push_back(e2e);
    }
  } else if (in.fine_tune) {
    const MemoryEstimate training =
        estimate_training_memory(c, in.train, teacher, in.cuda, in.bf16, in.activation_checkpointing);
    PhaseMemory ft{"fine-tuning", {}, {}};
    double cache = 0.0;
    if (teacher && !in.cuda && in.train.teacher_cache_mb > 0) {
      const double per_window =
          TeacherTargetCache::window_bytes(in.train.seq_len, c.vocab_size, in.train.teacher_top_k);
      cache = std::min(double(in.train.teacher_cache_mb) * 1024.0 * 1024.0, per_window * double(in.train_windows));
    }
    if (in.cuda) {
      ft.device = training;
      // Until they move to the device the host holds the original and the student.
      ft.host.terms = {{"original and student before the move", 2.0 * weights}, {"token stream", stream}};
    } else {
      // The original is the distillation teacher (not copied); the training
      // terms' own "teacher" entry is that same model.
      ft.host.terms = {{"original", weights}};
      for (const auto& [name, bytes] : training.terms) {
        if (name != "teacher") ft.host.terms.emplace_back(name == "weights" ? "student" : name, bytes);
      }
      ft.host.terms.emplace_back("teacher cache", cache);
      ft.host.terms.emplace_back("token stream", stream);
    }
    out.push_back(ft);
  }

  // The original is released after fine-tuning, the student once encoded,
  // the in-memory compressed model once evaluated (run_stage1.cpp).
  PhaseMemory encoding{"encoding", {}, {}};
  // One tensor at a time (run_stage1.cpp), at most 22 bytes an element of
  // the largest matrix: a projection's ternary form (dequantized fp32 and
  // int8 trits, 5 bytes a weight), its encoding (the int8 codec's three fp32
  // temporaries and payload, 13 bytes an element) and its decoded copy for
  // the error (4 bytes). After a block-wise end-to-end phase the student's
  // trits are int8 already.
  const bool frozen = in.fine_tune && in.train.mode == "blockwise" && in.train.e2e_steps > 0;
  const double frozen_student = projections + 8.0 * scale_count + 4.0 * (p - projections);
  encoding.host.terms = {{"student", frozen ? frozen_student : weights},
                         {"one tensor's ternary form, encoding and decoded copy", 22.0 * largest_float},
                         {"output", double(in.output_bytes)}};
  out.push_back(encoding);

  // Decoding builds the fp32 weights, which become the model's parameters
  // (build_stage1_model): before the write from the encoded file in memory,
  // after it from that file and the one read back. The model is decoded on
  // the host; on CUDA it is evaluated streamed onto the GPU.
  auto evaluated_decoded = [&](const char* phase, double outputs) {
    PhaseMemory m{phase, {}, {}};
    m.host.terms = {{"decoded model", weights},
                    {"one tensor as decoded", 4.0 * largest_float},
                    {outputs > 1.0 ? "output, twice" : "output", outputs * double(in.output_bytes)}};
    if (in.cuda) {
      add_streamed_evaluation(m, c, eval, in.eval_tokens);
    } else {
      m.host.terms.emplace_back("evaluation batch", eval);
    }
    return m;
  };
  out.push_back(evaluated_decoded("compressed evaluation", 1.0));
  out.push_back(evaluated_decoded("reload and evaluate", 2.0));
  for (auto& phase : out) {
    phase.host.parameters = phase.device.parameters = int64_t(p);
    // libtorch and the process itself (the CPU training terms carry theirs).
    bool has_runtime = false;
    for (const auto& term : phase.host.terms) has_runtime = has_runtime || term.first == "runtime";
    if (!has_runtime) phase.host.terms.emplace_back("runtime", runtime_bytes(false));
  }
  return out;
}

void check_stage1_memory_fits(const std::vector<PhaseMemory>& phases, bool cuda, double max_vram_gb,
                              int64_t physical_bytes, const std::string& where) {
  if (cuda) {
    const PhaseMemory& d = device_peak(phases);
    check_memory_fits(d.device, max_vram_gb, where + " (" + d.phase + ", on the GPU)");
  }
  const PhaseMemory& h = host_peak(phases);
  if (physical_bytes > 0 && h.host.total_bytes() > double(physical_bytes)) {
    const auto [name, bytes] = h.host.largest();
    throw usage_error(where, ": the ", h.phase, " phase needs an estimated ", format_bytes(h.host.total_bytes()),
                      " of host memory, more than this machine's ", format_bytes(double(physical_bytes)),
                      "; the largest term is ", name, " (", format_bytes(bytes), "): ",
                      cuda ? "the model is too large for this machine's memory"
                           : "fine-tune on a GPU (hardware.device \"cuda\") or on a machine with more memory",
                      " [", h.host.describe(), "]");
  }
}

const PhaseMemory& host_peak(const std::vector<PhaseMemory>& phases) { return peak(phases, false); }
const PhaseMemory& device_peak(const std::vector<PhaseMemory>& phases) { return peak(phases, true); }

}  // namespace seedforge
