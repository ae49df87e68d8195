// c10d process group (see process_group.h). This file alone includes c10d's
// backend headers: ProcessGroupGloo.hpp is empty unless USE_C10D_GLOO is
// defined, and it needs Gloo's headers (Debian: libgloo-dev), so CMake
// compiles it with SEEDFORGE_HAVE_GLOO / SEEDFORGE_HAVE_NCCL when they exist.
#include "dist/process_group.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#ifdef SEEDFORGE_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SEEDFORGE_HAVE_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "common/error.h"

namespace seedforge {

namespace {

using Clock = std::chrono::steady_clock;
using WorkPtr = c10::intrusive_ptr<c10d::Work>;

std::chrono::milliseconds to_ms(double seconds) { return std::chrono::milliseconds(int64_t(seconds * 1000.0)); }

}  // namespace

// The backend's collectives, bound once: ProcessGroupGloo derives from
// ProcessGroup in libtorch 1.x, ProcessGroupNCCL from Backend in 2.x; both
// have these member functions.
struct DistGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10::intrusive_ptr_target> backend;  // keeps it alive
  std::function<WorkPtr(std::vector<at::Tensor>&)> allreduce_sum;
  std::function<WorkPtr(std::vector<at::Tensor>&)> broadcast0;
  std::function<WorkPtr(std::vector<std::vector<at::Tensor>>&, std::vector<at::Tensor>&)> allgather;
  std::function<WorkPtr()> barrier;

  template <typename Backend>
  void bind(c10::intrusive_ptr<Backend> b) {
    Backend* p = b.get();
    backend = std::move(b);
    allreduce_sum = [p](std::vector<at::Tensor>& t) {
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      return p->allreduce(t, o);
    };
    broadcast0 = [p](std::vector<at::Tensor>& t) {
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      return p->broadcast(t, o);
    };
    allgather = [p](std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in) { return p->allgather(out, in); };
    barrier = [p] { return p->barrier(); };
  }
};

bool dist_backend_available(const std::string& backend) {
#ifdef SEEDFORGE_HAVE_GLOO
  if (backend == "gloo") return true;
#endif
#ifdef SEEDFORGE_HAVE_NCCL
  if (backend == "nccl") return true;
#endif
  (void)backend;
  return false;
}

DistGroup::DistGroup(const DistEnv& env, const std::string& backend, bool cuda, double timeout_s)
    : env_(env), backend_(backend == "auto" ? (cuda ? "nccl" : "gloo") : backend), timeout_s_(timeout_s),
      impl_(std::make_unique<Impl>()) {
  if (!env.distributed()) throw usage_error("DistGroup: WORLD_SIZE is ", env.world_size, ", nothing to join");
  if (!dist_backend_available(backend_)) {
    throw usage_error("hardware.backend \"", backend_, "\" is not in this build (",
                      backend_ == "nccl" ? "build with a CUDA libtorch that has NCCL, scripts/build-pip-torch.sh"
                                         : "install Gloo's headers, Debian's libgloo-dev, and reconfigure",
                      ")");
  }
  if (backend_ == "nccl" && !cuda) throw usage_error("hardware.backend \"nccl\" needs hardware.device \"cuda\"");
  if (backend_ == "gloo" && cuda) {
    throw usage_error("hardware.backend \"gloo\" reduces CPU tensors here; use \"nccl\" (or \"auto\") with device cuda");
  }
  const auto timeout = to_ms(timeout_s);
  // A peer that died leaves its sockets closed; a write to one raises SIGPIPE,
  // which would end this rank silently (exit 141, seen once when the test
  // killed rank 1 under load) instead of the collective's error and the
  // message below. Python ignores SIGPIPE at start-up, which is what Gloo's
  // sockets assume; this process does the same.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    // Rank 0 serves the store; every rank (rank 0 included) is a client of it.
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0;
    store_options.numWorkers = static_cast<size_t>(env.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("seedforge/" + backend_, tcp);
  } catch (const std::exception& e) {
    fail("the rendezvous at MASTER_ADDR:MASTER_PORT " + env.master_addr + ":" + std::to_string(env.master_port),
         "start-up", e.what());
  }
  try {
#ifdef SEEDFORGE_HAVE_GLOO
    if (backend_ == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // Loopback runs talk over 127.0.0.1; others over the interface named by
      // GLOO_SOCKET_IFNAME (as PyTorch does) or the one this host name resolves to.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost") {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else if (ifname != nullptr && *ifname != '\0') {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      options->threads = 1;  // one collective at a time: the trainer has one bucket in flight
      impl_->bind(c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, options));
    }
#endif
#ifdef SEEDFORGE_HAVE_NCCL
    if (backend_ == "nccl") {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl_->bind(c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world_size, options));
    }
#endif
  } catch (const std::exception& e) {
    fail("joining the " + backend_ + " process group", "start-up", e.what());
  }
  barrier("start-up");
}

DistGroup::~DistGroup() = default;

void DistGroup::fail(const std::string& what, const std::string& where, const std::string& cause) const {
  std::string first_line = cause.substr(0, cause.find('\n'));
  throw runtime_error("rank ", env_.rank, " of ", env_.world_size, ": ", what, " failed at ", where, ": ", first_line,
                      " (a peer rank died, hangs, or did not arrive within hardware.dist_timeout_s = ", timeout_s_,
                      " s; see its log)");
}

void DistGroup::average_gradients(const std::vector<torch::Tensor>& grads, const std::string& where) {
  std::vector<torch::Tensor> present;
  for (const auto& g : grads) {
    if (g.defined()) present.push_back(g);
  }
  if (present.empty()) return;
  const auto start = Clock::now();
  // One flat bucket: one collective per step instead of one per parameter
  // (the latency of a small all-reduce is paid once).
  std::vector<torch::Tensor> flat;
  for (const auto& g : present) flat.push_back(g.reshape({-1}).to(torch::kFloat32));
  std::vector<torch::Tensor> bucket{torch::cat(flat)};
  try {
    impl_->allreduce_sum(bucket)->wait();
  } catch (const std::exception& e) {
    fail("the gradient all-reduce", where, e.what());
  }
  bucket[0].div_(double(env_.world_size));
  int64_t offset = 0;
  for (auto& g : present) {
    const int64_t n = g.numel();
    g.copy_(bucket[0].narrow(0, offset, n).view(g.sizes()));
    offset += n;
  }
  add_gradient_stats(1, bucket[0].numel() * int64_t(bucket[0].element_size()),
                     std::chrono::duration<double>(Clock::now() - start).count());
}

void DistGroup::add_gradient_stats(int64_t buckets, int64_t bytes, double seconds) {
  gradient_stats_.calls += 1;
  gradient_stats_.buckets += buckets;
  gradient_stats_.bytes += bytes;
  gradient_stats_.seconds += seconds;
}

std::function<void()> DistGroup::start_all_reduce_sum(const torch::Tensor& values, const std::string& where) {
  std::vector<torch::Tensor> t{values};
  WorkPtr work;
  try {
    work = impl_->allreduce_sum(t);
  } catch (const std::exception& e) {
    fail("the gradient all-reduce", where, e.what());
  }
  return [this, work, where] {
    try {
      work->wait();
    } catch (const std::exception& e) {
      fail("the gradient all-reduce", where, e.what());
    }
  };
}

void DistGroup::all_reduce_sum(torch::Tensor& values, const std::string& where) {
  std::vector<torch::Tensor> t{values};
  try {
    impl_->allreduce_sum(t)->wait();
  } catch (const std::exception& e) {
    fail("an all-reduce", where, e.what());
  }
}

void DistGroup::broadcast_from_rank0(const std::vector<torch::Tensor>& tensors, const std::string& where) {
  for (const auto& tensor : tensors) {
    std::vector<torch::Tensor> t{tensor.is_contiguous() ? tensor : tensor.contiguous()};
    try {
      impl_->broadcast0(t)->wait();
    } catch (const std::exception& e) {
      fail("a broadcast from rank 0", where, e.what());
    }
    if (!t[0].is_same(tensor)) tensor.copy_(t[0]);
  }
}

std::vector<torch::Tensor> DistGroup::all_gather_varying(const torch::Tensor& values, const std::string& where) {
  const int world = env_.world_size;
  // Sizes first, then every rank's values padded to the largest.
  std::vector<std::vector<torch::Tensor>> size_out(1);
  for (int r = 0; r < world; ++r) size_out[0].push_back(torch::zeros({1}, torch::kInt64));
  std::vector<torch::Tensor> size_in{torch::full({1}, values.numel(), torch::kInt64)};
  std::vector<std::vector<torch::Tensor>> out(1);
  try {
    impl_->allgather(size_out, size_in)->wait();
    int64_t largest = 0;
    for (const auto& s : size_out[0]) largest = std::max(largest, s.item<int64_t>());
    std::vector<torch::Tensor> in{torch::zeros({largest}, values.options())};
    in[0].narrow(0, 0, values.numel()).copy_(values.reshape({-1}));
    for (int r = 0; r < world; ++r) out[0].push_back(torch::empty({largest}, values.options()));
    impl_->allgather(out, in)->wait();
  } catch (const std::exception& e) {
    fail("an all-gather", where, e.what());
  }
  std::vector<torch::Tensor> gathered;
  for (int r = 0; r < world; ++r) gathered.push_back(out[0][size_t(r)].narrow(0, 0, size_out[0][size_t(r)].item<int64_t>()));
  return gathered;
}

void DistGroup::barrier(const std::string& where) {
  try {
    impl_->barrier()->wait();
  } catch (const std::exception& e) {
    fail("a barrier", where, e.what());
  }
}

}  // namespace seedforge
