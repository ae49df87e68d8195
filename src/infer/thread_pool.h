// A small fixed pool of threads for the engine's parallel loops (rows of a
// matrix, heads of attention, documents of an evaluation). The calling thread
// takes part, so a pool of N threads starts N - 1 workers; a pool of 1 runs
// everything on the caller. Workers spin for a few microseconds after a job
// before they sleep, because a decode step hands out a job per matrix (about
// 150 a token for a 22-layer model) and waking a sleeping thread costs more
// than a small matrix.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <mutex>
#include <thread>
#include <vector>

namespace seedforge::infer {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(ctx, i) for every i in [0, n), spread over the threads (the
  // caller included), and returns when all calls have returned. The first
  // exception thrown by a call is rethrown here after the others finish. Not
  // reentrant: fn must not call run() on the same pool.
  void run(int64_t n, void (*fn)(void* ctx, int64_t i), void* ctx);
  // The same for any callable f(i), without the allocation a std::function
  // of a capturing lambda may cost on every call.
  template <typename F>
  void run(int64_t n, F&& f) {
    using Fn = std::remove_reference_t<F>;
    run(n, [](void* c, int64_t i) { (*static_cast<Fn*>(c))(i); }, const_cast<void*>(static_cast<const void*>(&f)));
  }

 private:
  void worker_loop();
  void work();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  void (*job_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  std::exception_ptr error_;
};

}  // namespace seedforge::infer
