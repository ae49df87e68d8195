// One data-parallel process group on torch.distributed's C++ core (c10d):
// every rank connects to rank 0's TCPStore at MASTER_ADDR:MASTER_PORT and
// joins a ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors;
// only in a libtorch built with NCCL). The collectives the trainer needs are
// wrapped here so that a peer that died or hangs becomes a runtime_error
// naming the rank, the operation and hardware.dist_timeout_s, never a silent
// hang: Gloo fails a collective when a peer's socket closes (a killed rank,
// within milliseconds) or when it waited timeout seconds (a hung rank).
//
// All ranks must call the collectives in the same order with tensors of the
// same shapes (c10d's contract).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dist/dist_env.h"

namespace seedforge {

// Running totals of the gradient all-reduces (for the closing figures).
struct AllReduceStats {
  int64_t calls = 0;       // gradient averages (one per optimizer step)
  int64_t buckets = 0;     // all-reduce collectives they took
  int64_t bytes = 0;       // payload per rank, summed over calls
  // Wall time the steps spent waiting for them (incl. slower ranks); with
  // buckets overlapping backward, only the part backward did not hide.
  double seconds = 0.0;
};

class DistGroup {
 public:
  // Rendezvous and join; blocks until all env.world_size ranks arrived (at
  // most timeout_s, then a runtime_error). backend: "auto" (Gloo on CPU,
  // NCCL on CUDA), "gloo" or "nccl" (usage_error when this build has no NCCL).
  DistGroup(const DistEnv& env, const std::string& backend, bool cuda, double timeout_s);
  ~DistGroup();
  DistGroup(const DistGroup&) = delete;
  DistGroup& operator=(const DistGroup&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const std::string& backend() const { return backend_; }

  // Gradients averaged over the ranks in one flat bucket: copied into one
  // contiguous buffer (one dtype/device), summed by one all-reduce, divided by
  // the world size, copied back. Undefined entries are skipped (the same on
  // every rank: the ranks hold the same model). `where` goes into errors.
  void average_gradients(const std::vector<torch::Tensor>& grads, const std::string& where);
  // In-place sum over the ranks of a small tensor (losses, flags).
  void all_reduce_sum(torch::Tensor& values, const std::string& where);
  // Starts an in-place sum over the ranks of `values` (contiguous) and returns
  // at once: the backend runs the started collectives one after the other on
  // its own thread, beside the caller's work. The returned function waits for
  // this one (errors as all_reduce_sum's); call it before reading `values`.
  std::function<void()> start_all_reduce_sum(const torch::Tensor& values, const std::string& where);
  // Counted into gradient_stats() by OverlappedGradientAverage::finish().
  void add_gradient_stats(int64_t buckets, int64_t bytes, double seconds);
  // Rank 0's values into every rank's tensors, in place.
  void broadcast_from_rank0(const std::vector<torch::Tensor>& tensors, const std::string& where);
  // Each rank's 1-D tensor (same dtype, sizes may differ) gathered on every
  // rank, in rank order: [world_size] tensors.
  std::vector<torch::Tensor> all_gather_varying(const torch::Tensor& values, const std::string& where);
  // Waits until every rank is here.
  void barrier(const std::string& where);

  const AllReduceStats& gradient_stats() const { return gradient_stats_; }

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& what, const std::string& where, const std::string& cause) const;

  DistEnv env_;
  std::string backend_;
  double timeout_s_;
  std::unique_ptr<Impl> impl_;
  AllReduceStats gradient_stats_;
};

// Whether this libtorch build has a c10d backend ("gloo", "nccl").
bool dist_backend_available(const std::string& backend);

}  // namespace seedforge
