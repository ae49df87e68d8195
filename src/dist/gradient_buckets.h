// Gradient averaging that overlaps the backward pass, as PyTorch's
// DistributedDataParallel does: the trainable parameters are grouped into
// buckets of about bucket_bytes (in reverse order, the order in which backward
// produces their gradients), and a bucket's all-reduce starts on the
// backend's worker thread as soon as the last gradient in it is complete,
// while backward goes on computing the earlier layers' gradients. finish()
// then waits for what is still in flight, so that only the tail of the
// communication is exposed.
//
// Buckets start strictly in bucket order (c10d needs every rank to issue the
// same collectives in the same order, and autograd's order is not a contract).
// A gradient is "complete" when autograd's AccumulateGrad node for it has run
// (a post hook on that node: every use of the parameter in the graph, tied
// weights and checkpointed layers included, has been summed into .grad).
//
// The values equal DistGroup::average_gradients' (one flat bucket) bit for
// bit with 2 ranks (a sum of two floats does not depend on the order); with
// more ranks Gloo's ring may add in another order per bucket size (float
// rounding only).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/process_group.h"

namespace seedforge {

// The automatic bucket size for gradient_bytes of fp32 gradients: a quarter
// of them (so that three buckets' all-reduces can overlap backward), at
// least 0.25 MB (a collective's latency, about a millisecond over loopback
// Gloo, must stay small against its transfer: 0.0625 MB buckets measured
// slower than 0.25 MB ones on stories260K, bench/dist) and at most 25 MB
// (PyTorch DDP's bucket_cap_mb).
int64_t auto_bucket_bytes(int64_t gradient_bytes);

class OverlappedGradientAverage {
 public:
  // params: the parameters whose gradients are averaged (the optimizer's,
  // all on one device, floating point). bucket_bytes: the fp32 payload of a
  // bucket (a parameter larger than that is a bucket of its own).
  OverlappedGradientAverage(DistGroup& group, const std::vector<torch::Tensor>& params, int64_t bucket_bytes);
  ~OverlappedGradientAverage();
  OverlappedGradientAverage(const OverlappedGradientAverage&) = delete;
  OverlappedGradientAverage& operator=(const OverlappedGradientAverage&) = delete;

  // The next backward pass is the step's last (earlier micro-batches only
  // accumulate): its completed gradients start their buckets.
  void arm(const std::string& where);
  // After that backward: starts the buckets that did not (parameters without
  // a gradient this step count as zeros and keep no gradient), waits for all,
  // and writes each gradient's average over the ranks back into .grad.
  void finish();

  int64_t bucket_count() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace seedforge
