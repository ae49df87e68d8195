// Templates behind seedlm_scan.h, included only by the seedlm_scan_<isa>.cpp
// files. Everything here has internal linkage so each file's instantiations
// keep their own instruction set; the file uses nothing from the standard
// library for the same reason (an inline std function compiled with AVX-512
// could be picked by the linker for the generic build).
//
// An Arch provides: type V (kLanes fp32 lanes), load, broadcast, zero,
// fma(a, b, c) = a*b + c, and ge_mask(a, b) (bit i set when a_i >= b_i).
#pragma once

#include <cstdint>

#include "codec/seedlm_scan.h"

namespace seedforge {
namespace {

// Shapes: W is C x (G*kLanes) (one block per lane), each seed's Qt is P x C.
// norm[b] = sum_k (sum_j Qt[k][j] * W[j][b])^2 for the G*kLanes blocks b.
template <class Arch, int C, int P, int G, bool kNorms>
int64_t scan_fixed(SeedLMScanArgs* a) {
  using V = typename Arch::V;
  constexpr int L = Arch::kLanes;
  constexpr int lanes = G * L;
  V w[C][G];
  for (int j = 0; j < C; ++j)
    for (int g = 0; g < G; ++g) w[j][g] = Arch::load(a->wt + j * lanes + g * L);
  V th[G];
  if (!kNorms)
    for (int g = 0; g < G; ++g) th[g] = Arch::load(a->thr + g * L);
  const float* qt = a->qt + a->begin * P * C;
  for (int64_t s = a->begin; s < a->end; ++s, qt += P * C) {
    V acc[P][G];
    for (int k = 0; k < P; ++k) {
      const V b0 = Arch::broadcast(qt[k * C]);
      for (int g = 0; g < G; ++g) acc[k][g] = Arch::mul(b0, w[0][g]);
      for (int j = 1; j < C; ++j) {
        const V b = Arch::broadcast(qt[k * C + j]);
        for (int g = 0; g < G; ++g) acc[k][g] = Arch::fma(b, w[j][g], acc[k][g]);
      }
    }
    for (int g = 0; g < G; ++g) {
      V norm = Arch::mul(acc[0][g], acc[0][g]);
      for (int k = 1; k < P; ++k) norm = Arch::fma(acc[k][g], acc[k][g], norm);
      if (kNorms) {
        Arch::store(a->norms + (s - a->begin) * lanes + g * L, norm);
      } else {
        acc[0][g] = norm;  // reuse the register for the mask pass below
      }
    }
    if (!kNorms) {
      uint32_t mask = 0;
      for (int g = 0; g < G; ++g) mask |= Arch::ge_mask(acc[0][g], th[g]) << (g * L);
      if (mask) {
        a->cand_index[a->n_cand] = static_cast<uint32_t>(s);
        a->cand_mask[a->n_cand] = mask;
        if (++a->n_cand >= a->cand_cap) return s + 1;
      }
    }
  }
  return a->end;
}

// Any C <= kSeedLMMaxC, P <= kSeedLMMaxP (seedlm_params.h): W is read from memory.
template <class Arch, int G, bool kNorms>
int64_t scan_runtime(SeedLMScanArgs* a) {
  using V = typename Arch::V;
  constexpr int L = Arch::kLanes;
  constexpr int lanes = G * L;
  const int C = a->C, P = a->P;
  const float* qt = a->qt + a->begin * P * C;
  for (int64_t s = a->begin; s < a->end; ++s, qt += P * C) {
    V norm[G];
    for (int g = 0; g < G; ++g) norm[g] = Arch::zero();
    for (int k = 0; k < P; ++k) {
      V acc[G];
      for (int g = 0; g < G; ++g) acc[g] = Arch::zero();
      for (int j = 0; j < C; ++j) {
        const V b = Arch::broadcast(qt[k * C + j]);
        for (int g = 0; g < G; ++g) acc[g] = Arch::fma(b, Arch::load(a->wt + j * lanes + g * L), acc[g]);
      }
      for (int g = 0; g < G; ++g) norm[g] = Arch::fma(acc[g], acc[g], norm[g]);
    }
    if (kNorms) {
      for (int g = 0; g < G; ++g) Arch::store(a->norms + (s - a->begin) * lanes + g * L, norm[g]);
    } else {
      uint32_t mask = 0;
      for (int g = 0; g < G; ++g) mask |= Arch::ge_mask(norm[g], Arch::load(a->thr + g * L)) << (g * L);
      if (mask) {
        a->cand_index[a->n_cand] = static_cast<uint32_t>(s);
        a->cand_mask[a->n_cand] = mask;
        if (++a->n_cand >= a->cand_cap) return s + 1;
      }
    }
  }
  return a->end;
}

// Sliding kernel, compile-time C, P. The window of r values lives in a ring of
// P register slots: r_m sits in slot (m - begin) mod P, so with positions
// handled P at a time (phase ph = p - base) every slot index is a constant.
template <class Arch, int C, int P, int G, bool kNorms>
int64_t slide_fixed(SeedLMSlideArgs* a) {
  using V = typename Arch::V;
  constexpr int L = Arch::kLanes;
  constexpr int lanes = G * L;
  constexpr int T = P * (P + 1) / 2;
  V w[C][G], wn2[G], th[G];
  for (int j = 0; j < C; ++j)
    for (int g = 0; g < G; ++g) w[j][g] = Arch::load(a->wt + j * lanes + g * L);
  for (int g = 0; g < G; ++g) {
    wn2[g] = Arch::load(a->wn2 + g * L);
    th[g] = kNorms ? Arch::zero() : Arch::load(a->thr + g * L);
  }
  const float* u = a->u;
  const int64_t begin = a->begin, end = a->end;
  V ring[P][G];
  // r_m = sum_j u[m + j P] w_j into ring slot `slot`.
  auto compute_r = [&](int64_t m, int slot) {
    const V b0 = Arch::broadcast(u[m]);
    for (int g = 0; g < G; ++g) ring[slot][g] = Arch::mul(b0, w[0][g]);
    for (int j = 1; j < C; ++j) {
      const V b = Arch::broadcast(u[m + j * P]);
      for (int g = 0; g < G; ++g) ring[slot][g] = Arch::fma(b, w[j][g], ring[slot][g]);
    }
  };
  // Window of position begin: r_{begin+1} .. r_{begin+P}.
  for (int k = 0; k < P; ++k) compute_r(begin + 1 + k, (1 + k) % P);
  for (int64_t base = begin; base < end; base += P) {
    for (int ph = 0; ph < P; ++ph) {
      const int64_t p = base + ph;
      if (p >= end) break;
      const float* li = a->linv + p * T;
      // z_k = sum_{l <= k} L^{-1}[k][l] r_{p+1+l}; norm = sum_k z_k^2.
      V norm[G];
      {
        const V b0 = Arch::broadcast(li[0]);
        for (int g = 0; g < G; ++g) {
          const V z = Arch::mul(b0, ring[(ph + 1) % P][g]);
          norm[g] = Arch::mul(z, z);
        }
      }
      for (int k = 1; k < P; ++k) {
        V z[G];
        const V b0 = Arch::broadcast(li[k * (k + 1) / 2]);
        for (int g = 0; g < G; ++g) z[g] = Arch::mul(b0, ring[(ph + 1) % P][g]);
        for (int l = 1; l <= k; ++l) {
          const V b = Arch::broadcast(li[k * (k + 1) / 2 + l]);
          for (int g = 0; g < G; ++g) z[g] = Arch::fma(b, ring[(ph + 1 + l) % P][g], z[g]);
        }
        for (int g = 0; g < G; ++g) norm[g] = Arch::fma(z[g], z[g], norm[g]);
      }
      const V mu = Arch::broadcast(a->mu[p]);
      for (int g = 0; g < G; ++g) norm[g] = Arch::fma(mu, wn2[g], norm[g]);
      if (kNorms) {
        for (int g = 0; g < G; ++g) Arch::store(a->norms + (p - begin) * lanes + g * L, norm[g]);
      } else {
        uint32_t mask = 0;
        for (int g = 0; g < G; ++g) mask |= Arch::ge_mask(norm[g], th[g]) << (g * L);
        if (mask) {
          a->cand_index[a->n_cand] = static_cast<uint32_t>(p);
          a->cand_mask[a->n_cand] = mask;
          if (++a->n_cand >= a->cand_cap) return p + 1;
        }
      }
      // r_{p+1} is no longer needed: its slot takes r_{p+P+1}.
      compute_r(p + P + 1, (ph + 1) % P);
    }
  }
  return end;
}

// Sliding kernel, runtime C <= kSeedLMMaxC and P <= kSeedLMMaxP (16): the
// window is a ring in memory indexed at run time.
template <class Arch, int G, bool kNorms>
int64_t slide_runtime(SeedLMSlideArgs* a) {
  using V = typename Arch::V;
  constexpr int L = Arch::kLanes;
  constexpr int lanes = G * L;
  const int C = a->C, P = a->P, T = P * (P + 1) / 2;
  const float* u = a->u;
  V ring[16][G];
  auto compute_r = [&](int64_t m, int slot) {
    for (int g = 0; g < G; ++g) {
      V acc = Arch::zero();
      for (int j = 0; j < C; ++j) acc = Arch::fma(Arch::broadcast(u[m + j * P]), Arch::load(a->wt + j * lanes + g * L), acc);
      ring[slot][g] = acc;
    }
  };
  for (int k = 0; k < P; ++k) compute_r(a->begin + 1 + k, (1 + k) % P);
  int head = 1 % P;  // slot of r_{p+1}
  for (int64_t p = a->begin; p < a->end; ++p) {
    const float* li = a->linv + p * T;
    V norm[G];
    for (int g = 0; g < G; ++g) norm[g] = Arch::zero();
    for (int k = 0; k < P; ++k) {
      V z[G];
      for (int g = 0; g < G; ++g) z[g] = Arch::zero();
      for (int l = 0; l <= k; ++l) {
        const V b = Arch::broadcast(li[k * (k + 1) / 2 + l]);
        int slot = head + l;
        if (slot >= P) slot -= P;
        for (int g = 0; g < G; ++g) z[g] = Arch::fma(b, ring[slot][g], z[g]);
      }
      for (int g = 0; g < G; ++g) norm[g] = Arch::fma(z[g], z[g], norm[g]);
    }
    const V mu = Arch::broadcast(a->mu[p]);
    for (int g = 0; g < G; ++g) norm[g] = Arch::fma(mu, Arch::load(a->wn2 + g * L), norm[g]);
    if (kNorms) {
      for (int g = 0; g < G; ++g) Arch::store(a->norms + (p - a->begin) * lanes + g * L, norm[g]);
    } else {
      uint32_t mask = 0;
      for (int g = 0; g < G; ++g) mask |= Arch::ge_mask(norm[g], Arch::load(a->thr + g * L)) << (g * L);
      if (mask) {
        a->cand_index[a->n_cand] = static_cast<uint32_t>(p);
        a->cand_mask[a->n_cand] = mask;
        if (++a->n_cand >= a->cand_cap) return p + 1;
      }
    }
    compute_r(p + P + 1, head);
    head = head + 1 == P ? 0 : head + 1;
  }
  return a->end;
}

template <class Arch, int C, int P, int G>
int64_t slide_fixed_dispatch(SeedLMSlideArgs* a) {
  return a->norms ? slide_fixed<Arch, C, P, G, true>(a) : slide_fixed<Arch, C, P, G, false>(a);
}

template <class Arch, int G>
int64_t slide_runtime_dispatch(SeedLMSlideArgs* a) {
  return a->norms ? slide_runtime<Arch, G, true>(a) : slide_runtime<Arch, G, false>(a);
}

template <class Arch, int C, int P, int G>
int64_t scan_fixed_dispatch(SeedLMScanArgs* a) {
  return a->norms ? scan_fixed<Arch, C, P, G, true>(a) : scan_fixed<Arch, C, P, G, false>(a);
}

template <class Arch, int G>
int64_t scan_runtime_dispatch(SeedLMScanArgs* a) {
  return a->norms ? scan_runtime<Arch, G, true>(a) : scan_runtime<Arch, G, false>(a);
}

// Both kernels of one shape.
template <class Arch, int C, int P, int G>
SeedLMScanKernel fixed_kernels(Isa isa) {
  SeedLMScanKernel k;
  k.fn = scan_fixed_dispatch<Arch, C, P, G>;
  k.slide = slide_fixed_dispatch<Arch, C, P, G>;
  k.lanes = G * Arch::kLanes;
  k.isa = isa;
  return k;
}

template <class Arch, int G>
SeedLMScanKernel runtime_kernels(Isa isa) {
  SeedLMScanKernel k;
  k.fn = scan_runtime_dispatch<Arch, G>;
  k.slide = slide_runtime_dispatch<Arch, G>;
  k.lanes = G * Arch::kLanes;
  k.isa = isa;
  return k;
}

}  // namespace
}  // namespace seedforge
