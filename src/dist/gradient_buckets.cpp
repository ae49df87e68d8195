// Bucketed gradient all-reduce overlapping backward (see gradient_buckets.h).
#include "dist/gradient_buckets.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>

#include "common/error.h"

namespace seedforge {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

struct OverlappedGradientAverage::State {
  struct Bucket {
    std::vector<size_t> members;  // parameter indices, in the order they sit in `flat`
    torch::Tensor flat;           // [sum of members' numel] fp32 on the parameters' device
    size_t pending = 0;           // members whose gradient is not complete yet
    bool started = false;
    std::function<void()> wait;
  };

  State(DistGroup& g, const std::vector<torch::Tensor>& p) : group(g), params(p) {}

  DistGroup& group;
  std::vector<torch::Tensor> params;
  // A variable holds its AccumulateGrad node only weakly: without these the
  // node (and the hook on it) would be rebuilt by every forward pass.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;  // parameter index -> bucket
  std::vector<char> complete;     // parameter's gradient complete in the armed backward
  std::mutex mutex;               // CUDA runs backward on a device thread
  bool armed = false;
  size_t next_to_start = 0;
  std::string where;

  void start(size_t b) {
    Bucket& bucket = buckets[b];
    int64_t offset = 0;
    for (size_t i : bucket.members) {
      const int64_t n = params[i].numel();
      torch::Tensor slot = bucket.flat.narrow(0, offset, n);
      const torch::Tensor& g = params[i].grad();
      if (g.defined()) {
        slot.copy_(g.reshape({-1}));
      } else {
        slot.zero_();
      }
      offset += n;
    }
    bucket.wait = group.start_all_reduce_sum(bucket.flat, where);
    bucket.started = true;
  }

  // Buckets start in bucket order only: a later bucket that is complete waits
  // for the earlier ones (every rank must issue the same sequence).
  void start_complete_buckets() {
    while (next_to_start < buckets.size() && buckets[next_to_start].pending == 0) start(next_to_start++);
  }

  void gradient_complete(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed) return;  // an earlier micro-batch: only accumulating
    if (complete[i]) {
      throw runtime_error("data parallel: the gradient of parameter ", i, " (shape ", params[i].sizes(),
                          ") was completed twice in one backward pass at ", where);
    }
    complete[i] = 1;
    buckets[bucket_of[i]].pending -= 1;
    start_complete_buckets();
  }
};

namespace {

// Runs after autograd's AccumulateGrad node of one parameter.
struct GradientCompleteHook : torch::autograd::FunctionPostHook {
  explicit GradientCompleteHook(std::function<void()> f) : on_complete(std::move(f)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    on_complete();
    return outputs;
  }
  std::function<void()> on_complete;
};

}  // namespace

int64_t auto_bucket_bytes(int64_t gradient_bytes) {
  constexpr int64_t kMB = 1024 * 1024;
  return std::min<int64_t>(25 * kMB, std::max<int64_t>(kMB / 4, gradient_bytes / 4));
}

OverlappedGradientAverage::OverlappedGradientAverage(DistGroup& group, const std::vector<torch::Tensor>& params,
                                                     int64_t bucket_bytes)
    : state_(std::make_shared<State>(group, params)) {
  if (bucket_bytes <= 0) throw usage_error("OverlappedGradientAverage: bucket_bytes must be > 0, got ", bucket_bytes);
  State& s = *state_;
  s.bucket_of.assign(params.size(), 0);
  s.complete.assign(params.size(), 0);
  // Reverse order: backward completes the last layers' gradients first.
  int64_t filled = 0;
  for (size_t k = params.size(); k-- > 0;) {
    const torch::Tensor& p = params[k];
    if (!p.requires_grad() || !p.is_leaf()) {
      throw usage_error("OverlappedGradientAverage: parameter ", k, " is not a trainable leaf tensor");
    }
    const int64_t bytes = p.numel() * 4;
    if (s.buckets.empty() || (filled > 0 && filled + bytes > bucket_bytes)) {
      s.buckets.emplace_back();
      filled = 0;
    }
    s.buckets.back().members.push_back(k);
    s.bucket_of[k] = s.buckets.size() - 1;
    filled += bytes;
  }
  for (auto& b : s.buckets) {
    int64_t n = 0;
    for (size_t i : b.members) n += params[i].numel();
    b.flat = torch::zeros({n}, params[b.members[0]].options().dtype(torch::kFloat32));
    b.pending = b.members.size();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    std::shared_ptr<torch::autograd::Node> node = torch::autograd::impl::grad_accumulator(params[i]);
    if (!node) throw runtime_error("OverlappedGradientAverage: parameter ", i, " has no gradient accumulator");
    // Weakly: the nodes outlive this object when a graph still holds them.
    std::weak_ptr<State> weak = state_;
    node->add_post_hook(std::make_unique<GradientCompleteHook>([weak, i] {
      if (auto state = weak.lock()) state->gradient_complete(i);
    }));
    s.accumulators.push_back(std::move(node));
  }
}

OverlappedGradientAverage::~OverlappedGradientAverage() = default;

int64_t OverlappedGradientAverage::bucket_count() const { return int64_t(state_->buckets.size()); }

void OverlappedGradientAverage::arm(const std::string& where) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.armed = true;
  s.where = where;
  s.next_to_start = 0;
  std::fill(s.complete.begin(), s.complete.end(), 0);
  for (auto& b : s.buckets) {
    b.pending = b.members.size();
    b.started = false;
    b.wait = nullptr;
  }
}

void OverlappedGradientAverage::finish() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.armed) throw usage_error("OverlappedGradientAverage::finish without arm");
  s.armed = false;
  const auto start = Clock::now();
  // Buckets with a parameter that got no gradient this step never completed.
  while (s.next_to_start < s.buckets.size()) s.start(s.next_to_start++);
  int64_t bytes = 0;
  const double world = double(s.group.world_size());
  for (auto& b : s.buckets) {
    b.wait();
    b.flat.div_(world);
    int64_t offset = 0;
    for (size_t i : b.members) {
      const int64_t n = s.params[i].numel();
      torch::Tensor g = s.params[i].mutable_grad();
      if (g.defined()) g.copy_(b.flat.narrow(0, offset, n).view(g.sizes()));
      offset += n;
    }
    bytes += b.flat.numel() * 4;
  }
  s.group.add_gradient_stats(int64_t(s.buckets.size()), bytes, std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace seedforge
