// Memory of each phase of a Stage-1 run, host and device, from the model's
// shape and the options alone (no tensor allocated, no weight read): what
// --dry-run prints and what a run checks before any work. Each phase lists
// what is alive at its peak, as run_stage1.cpp holds it:
//
//   phase                host (CPU run)                          device (CUDA run)
//   load                 the weights as read (fp32, 4 P) and    -
//                        the model built from them (4 P), plus
//                        the input file's bytes (mapped or read)
//   baseline evaluation  original (4 P) + evaluation batch      original (4 P) + evaluation batch
//   fine-tuning          original (4 P, the distillation        student, gradients, AdamW, teacher,
//                        teacher) + the training terms of       activations, runtime (memory_estimate.h)
//                        memory_estimate.h (student, gradients,
//                        AdamW, activations) + teacher cache +
//                        token stream
//   encoding             the student (4 P; the original is      -
//                        released after fine-tuning) + output
//   compressed           the model decoded from the encoded     the decoded model (4 P) + batch
//   evaluation           tensors (4 P), the output, the batch
//   reload and evaluate  the model decoded from the file read   the decoded model (4 P) + batch
//                        back (4 P), the output twice, the
//                        batch
// On CUDA the host keeps the original and the student until they move to
// the device (8 P), and the training terms are the device's. P: parameters.
// With bitnet.mode "blockwise" the fine-tuning phase is two:
//   block-wise fine-tuning  host: original + student (8 P), the calibration
//                           inputs and targets (2 N T C elements); device
//                           (or host on a CPU run): one block's student copy
//                           with gradients and AdamW, the original's block,
//                           one block's activations and a batch
//   end-to-end phase        the student with its trits frozen as int8 (1
//                           byte a projection weight, 4 the rest), the
//                           teacher (the original; on CUDA under bf16 its
//                           matrices in bf16), the whole model's
//                           activations, gradients and AdamW of the scales,
//                           norms and float matrices only (e2e_steps > 0)
// Estimates of what the code allocates, before the allocator's own overhead
// (the "runtime" term covers libtorch and the process, measured idle).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/stage1_config.h"
#include "model/model_config.h"
#include "train/memory_estimate.h"
#include "train/train_options.h"

namespace seedforge {

struct PhaseMemory {
  std::string phase;
  MemoryEstimate host, device;  // device: empty terms on a CPU run
};

struct Stage1MemoryInputs {
  ModelConfig model;
  TrainOptions train;            // batch, seq_len, kd_weight, teacher_cache_mb, top-k
  bool fine_tune = true;
  bool cuda = false, bf16 = false, activation_checkpointing = false;
  int64_t input_file_bytes = 0;  // the checkpoint on disk
  // The config is in a header (llama2.c, a Hugging Face folder): the loader
  // builds the model first and adopts the checkpoint's tensors, one fp32
  // copy at the peak (model_loader.cpp); other formats are read, then copied.
  bool config_in_header = false;
  int64_t train_tokens = 0;      // the token stream (0 = unknown: omitted)
  int64_t train_windows = 0;     // for the teacher cache
  int64_t output_bytes = 0;      // the planned .stage1.pt
  int64_t eval_batch_tokens = 0; // tokens of one evaluation forward
  int64_t eval_tokens = 0;       // all scored tokens of the evaluation text
  // The SeedLM-stored float matrices (embeddings, an untied head) are frozen
  // before the first step (bitnet.float_freeze_fraction 0): no gradients or
  // AdamW moments for them.
  bool float_matrices_frozen = false;
  // Bytes a projection weight of the original takes on the host in block-wise
  // mode: 2 when the checkpoint stores them in 16 bits (Checkpoint::
  // projection_bytes; the run keeps them so, narrow_exact_projections), else 4.
  int original_projection_bytes = 4;
};

// The fields every plan shares, as the run resolves them from `config`: the
// model, the training options, the device, bf16, activation checkpointing
// and the float matrices' freezing. The caller adds the sizes it knows.
Stage1MemoryInputs stage1_memory_inputs(const Stage1Config& config, const ModelConfig& model, const TrainOptions& train,
                                        bool fine_tune);

std::vector<PhaseMemory> estimate_stage1_memory(const Stage1MemoryInputs& in);

// Refuses, before any work, a run whose plan cannot fit: on CUDA when a
// phase's device total exceeds max_vram_gb, and on any device when a
// phase's host total exceeds this machine's physical memory. The usage_error
// names the phase, its largest term and what to change.
void check_stage1_memory_fits(const std::vector<PhaseMemory>& phases, bool cuda, double max_vram_gb,
                              int64_t physical_bytes, const std::string& where);

// The phase with the largest host (or device) total.
const PhaseMemory& host_peak(const std::vector<PhaseMemory>& phases);
const PhaseMemory& device_peak(const std::vector<PhaseMemory>& phases);

}  // namespace seedforge
