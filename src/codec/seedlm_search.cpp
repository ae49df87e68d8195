#include "codec/seedlm_search.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace seedforge {
namespace {

constexpr int kMaxLanes = 32;
constexpr int64_t kProbeSeeds = 1024;    // seeds whose norms pick the first fits
constexpr int kProbeFits = 2;            // fits per block from the probe
constexpr int64_t kChunkSeeds = 2048;    // thresholds are tightened after each chunk
constexpr int64_t kCandidateCap = 1024;  // candidate buffer of one scan call

void prefetch(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
}

bool better(const SeedLMBlockCode& a, const SeedLMBlockCode& b) {
  return a.error < b.error || (a.error == b.error && a.seed < b.seed);
}

// Largest float <= x (x may be -inf).
float float_at_most(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// Smallest float >= x.
float float_at_least(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

// One tile: up to kernel.lanes blocks, one per lane.
class TileSearch {
 public:
  TileSearch(const SeedLMSeedTable& table, const SeedLMParams& params, const SeedLMScanKernel& kernel,
             bool use_slide)
      : table_(table), params_(params), kernel_(kernel), lanes_(kernel.lanes),
        slide_(use_slide ? table.slide.get() : nullptr) {
    wt_.resize(static_cast<size_t>(params.C) * lanes_);
    norms_.resize(static_cast<size_t>(std::min(kProbeSeeds, table.n_seeds)) * lanes_);
    cand_index_.resize(kCandidateCap);
    cand_mask_.resize(kCandidateCap);
  }

  void run(const float* blocks, int n_valid, SeedLMBlockCode* out, SeedLMSearchStats* stats) {
    const int C = params_.C;
    blocks_ = blocks;
    out_ = out;
    for (int b = 0; b < lanes_; ++b) {
      double wn2 = 0.0;
      for (int j = 0; j < C; ++j) {
        const float v = b < n_valid ? blocks[b * C + j] : 0.0f;
        wt_[static_cast<size_t>(j) * lanes_ + b] = v;
        wn2 += static_cast<double>(v) * v;
      }
      wn2_[b] = wn2;
      wn2_up_[b] = float_at_least(wn2);
      // Padding lanes never match.
      thr_[b] = thr_slide_[b] = std::numeric_limits<float>::infinity();
    }
    active_ = 0;
    for (int b = 0; b < n_valid; ++b) {
      out[b] = SeedLMBlockCode();
      if (wn2_[b] == 0.0) {
        // Every seed fits an all-zero block exactly (t = 0, q = 0, error 0) at
        // the first exponent tried, e0 = emin: the lowest seed wins the tie.
        out[b].seed = table_.seeds[0];
        out[b].exponent = params_.exponent_min();
        if (stats) ++stats->zero_blocks;
        continue;
      }
      out[b].error = std::numeric_limits<double>::infinity();
      active_ |= 1u << b;
    }
    if (active_) {
      probe();
      scan();
    }
    if (stats) {
      stats->blocks += n_valid;
      stats->fits += fits_;
    }
    fits_ = 0;
  }

 private:
  void fit(int64_t index, int lane) {
    SeedLMBlockCode code;
    code.seed = table_.seeds[static_cast<size_t>(index)];
    seedlm_fit_seed(blocks_ + lane * params_.C, table_.basis(index), table_.gram_pinv(index), params_.C,
                    params_.P, params_.Q, params_.E, &code);
    ++fits_;
    if (better(code, out_[lane])) {
      out_[lane] = code;
      // Seeds whose bound ||w||^2 - norm - margin exceeds the best error cannot
      // win: the direct kernel's candidates need norm >= ||w||^2 (1 - margin_rel) - best,
      // the sliding kernel's norm + mu ||w||^2 >= ||w||^2 (1 - 8u) - best
      // (seedlm_seed_table.cpp derives both margins).
      thr_[lane] = float_at_most(wn2_[lane] * (1.0 - table_.margin_rel) - code.error);
      thr_slide_[lane] = float_at_most(wn2_[lane] * (1.0 - 8.0 * std::ldexp(1.0, -24)) - code.error);
    }
  }

  // The n candidates a scan stored; index_map turns their indices into table indices.
  void fit_candidates(int64_t n, const uint32_t* index_map) {
    // The candidates' table rows are scattered over tens of MB: request them
    // all before fitting, so that the cache misses overlap.
    for (int64_t c = 0; c < n; ++c) {
      const uint32_t i = cand_index_[static_cast<size_t>(c)];
      const int64_t index = index_map ? index_map[i] : i;
      prefetch(table_.basis(index), params_.C * params_.P * sizeof(float));
      prefetch(table_.gram_pinv(index), params_.P * params_.P * sizeof(double));
      __builtin_prefetch(&table_.seeds[static_cast<size_t>(index)]);
    }
    for (int64_t c = 0; c < n; ++c) {
      uint32_t mask = cand_mask_[static_cast<size_t>(c)];
      const uint32_t i = cand_index_[static_cast<size_t>(c)];
      const int64_t index = index_map ? index_map[i] : i;
      while (mask) {
        const int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        fit(index, lane);
      }
    }
  }

  // The norms of the first seeds pick a few exact fits, so that the scan
  // starts with a useful threshold.
  void probe() {
    SeedLMScanArgs args;
    args.qt = table_.Qt.data();
    args.C = params_.C;
    args.P = params_.P;
    args.begin = 0;
    args.end = std::min(kProbeSeeds, table_.n_seeds);
    args.wt = wt_.data();
    args.norms = norms_.data();
    kernel_.fn(&args);
    for (int b = 0; b < lanes_; ++b) {
      if (!(active_ & (1u << b))) continue;
      int64_t top[kProbeFits];
      float top_norm[kProbeFits];
      int n_top = 0;
      for (int64_t s = 0; s < args.end; ++s) {
        const float v = norms_[static_cast<size_t>(s) * lanes_ + b];
        if (n_top < kProbeFits || v > top_norm[n_top - 1]) {
          int pos = n_top < kProbeFits ? n_top++ : kProbeFits - 1;
          while (pos > 0 && top_norm[pos - 1] < v) {
            top[pos] = top[pos - 1];
            top_norm[pos] = top_norm[pos - 1];
            --pos;
          }
          top[pos] = s;
          top_norm[pos] = v;
        }
      }
      for (int i = 0; i < n_top; ++i) fit(top[i], b);
    }
  }

  // Every seed once: with the sliding kernel in cycle order plus the irregular
  // seeds through the direct kernel, otherwise the direct kernel over the table.
  void scan() {
    if (slide_) {
      scan_slide();
      scan_direct(slide_->irregular_qt.data(), static_cast<int64_t>(slide_->irregular.size()),
                  slide_->irregular.data());
    } else {
      scan_direct(table_.Qt.data(), table_.n_seeds, nullptr);
    }
  }

  void scan_direct(const float* qt, int64_t n, const uint32_t* index_map) {
    SeedLMScanArgs args;
    args.qt = qt;
    args.C = params_.C;
    args.P = params_.P;
    args.wt = wt_.data();
    args.thr = thr_;
    args.cand_index = cand_index_.data();
    args.cand_mask = cand_mask_.data();
    args.cand_cap = kCandidateCap;
    int64_t next = 0;
    while (next < n) {
      args.begin = next;
      args.end = std::min(n, next + kChunkSeeds);
      args.n_cand = 0;
      next = kernel_.fn(&args);
      fit_candidates(args.n_cand, index_map);
    }
  }

  void scan_slide() {
    SeedLMSlideArgs args;
    args.u = slide_->u.data();
    args.linv = slide_->linv.data();
    args.mu = slide_->mu.data();
    args.C = params_.C;
    args.P = params_.P;
    args.wt = wt_.data();
    args.wn2 = wn2_up_;
    args.thr = thr_slide_;
    args.cand_index = cand_index_.data();
    args.cand_mask = cand_mask_.data();
    args.cand_cap = kCandidateCap;
    const int64_t n = slide_->n_positions;
    int64_t next = 0;
    while (next < n) {
      args.begin = next;
      args.end = std::min(n, next + kChunkSeeds);
      args.n_cand = 0;
      next = kernel_.slide(&args);
      fit_candidates(args.n_cand, slide_->index.data());
    }
  }

  const SeedLMSeedTable& table_;
  const SeedLMParams& params_;
  SeedLMScanKernel kernel_;
  int lanes_;
  std::vector<float> wt_, norms_;
  std::vector<uint32_t> cand_index_, cand_mask_;
  const SeedLMSlideTable* slide_;
  alignas(64) float thr_[kMaxLanes];
  alignas(64) float thr_slide_[kMaxLanes];
  alignas(64) float wn2_up_[kMaxLanes];
  double wn2_[kMaxLanes];
  uint32_t active_ = 0;
  const float* blocks_ = nullptr;
  SeedLMBlockCode* out_ = nullptr;
  int64_t fits_ = 0;
};

}  // namespace

void seedlm_search_range(const SeedLMSeedTable& table, const SeedLMParams& params, const SeedLMScanKernel& kernel,
                         const float* blocks, int64_t n_blocks, SeedLMBlockCode* out, SeedLMSearchStats* stats,
                         bool use_slide) {
  TileSearch tile(table, params, kernel, use_slide);
  for (int64_t b = 0; b < n_blocks; b += kernel.lanes) {
    const int n_valid = static_cast<int>(std::min<int64_t>(kernel.lanes, n_blocks - b));
    tile.run(blocks + b * params.C, n_valid, out + b, stats);
  }
}

void seedlm_search(const float* blocks, int64_t n_blocks, const SeedLMParams& params, SeedLMBlockCode* out,
                   const SeedLMProgress& progress, SeedLMSearchStats* stats) {
  params.validate();
  if (n_blocks <= 0) {
    if (progress) progress(0, 0);
    return;
  }
  const auto table = seedlm_seed_table(params);
  const SeedLMScanKernel kernel = seedlm_scan_kernel(params.C, params.P);
  const int64_t n_tiles = (n_blocks + kernel.lanes - 1) / kernel.lanes;
  int n_threads = params.threads > 0 ? params.threads : static_cast<int>(std::thread::hardware_concurrency());
  n_threads = static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(1, n_tiles)));

  // Tiles of 8 at a time from a shared counter: small enough to balance, and
  // each block's result depends only on the block.
  constexpr int64_t kTilesPerGrab = 8;
  std::atomic<int64_t> next_tile{0}, blocks_done{0};
  std::atomic<int> running{n_threads};
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr error;
  std::vector<SeedLMSearchStats> thread_stats(static_cast<size_t>(n_threads));

  auto worker = [&](int t) {
    try {
      TileSearch tile(*table, params, kernel, true);
      for (;;) {
        const int64_t first = next_tile.fetch_add(kTilesPerGrab);
        if (first >= n_tiles) break;
        const int64_t last = std::min(n_tiles, first + kTilesPerGrab);
        for (int64_t i = first; i < last; ++i) {
          const int64_t b = i * kernel.lanes;
          const int n_valid = static_cast<int>(std::min<int64_t>(kernel.lanes, n_blocks - b));
          tile.run(blocks + b * params.C, n_valid, out + b, &thread_stats[static_cast<size_t>(t)]);
          blocks_done.fetch_add(n_valid);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      next_tile.store(n_tiles);  // the others stop at their next grab
    }
    std::lock_guard<std::mutex> lock(mutex);
    if (--running == 0) finished.notify_all();
  };

  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(worker, t);
  if (progress) {
    // The caller's thread reports progress; the workers do the searching.
    threads.emplace_back(worker, 0);
    std::unique_lock<std::mutex> lock(mutex);
    while (running > 0) {
      finished.wait_for(lock, std::chrono::milliseconds(100));
      if (running == 0 || error) continue;
      lock.unlock();
      try {
        progress(blocks_done.load(), n_blocks);
        lock.lock();
      } catch (...) {
        // Stop the workers before rethrowing: joinable threads must not be destroyed.
        lock.lock();
        if (!error) error = std::current_exception();
        next_tile.store(n_tiles);
      }
    }
  } else {
    worker(0);
  }
  for (auto& th : threads) th.join();
  if (error) std::rethrow_exception(error);
  if (progress) progress(n_blocks, n_blocks);
  if (stats) {
    for (const auto& s : thread_stats) {
      stats->blocks += s.blocks;
      stats->zero_blocks += s.zero_blocks;
      stats->fits += s.fits;
    }
  }
}

SeedLMBlockCode seedlm_search_block_naive(const SeedLMSeedTable& table, const SeedLMParams& params,
                                          const float* block) {
  SeedLMBlockCode best;
  best.error = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < table.n_seeds; ++i) {
    SeedLMBlockCode code;
    code.seed = table.seeds[static_cast<size_t>(i)];
    seedlm_fit_seed(block, table.basis(i), table.gram_pinv(i), params.C, params.P, params.Q, params.E, &code);
    if (better(code, best)) best = code;
  }
  return best;
}

}  // namespace seedforge
