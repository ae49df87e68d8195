// The instruction-set levels seedforge's hand-written kernels come in, and the
// SEEDFORGE_ISA switch that caps which level the run-time dispatch may pick.
//
// Each kernel family (SeedLM seed scan, causal attention, ...) is compiled once
// per level it has and picks, at run time, the highest compiled level that is
// at most isa_ceiling(). Setting SEEDFORGE_ISA=generic (or avx2) on a bigger
// CPU makes the program run the code a smaller CPU would run, which is how the
// tests and a user reproduce another machine's kernels. Torch-free.
//
// Includes nothing from the standard library: kernel files compiled with
// -mavx2 or -mavx512f include this header (through their own), and an inline
// std function instantiated there could be the copy the linker keeps for the
// whole program, which would then fault on a smaller CPU.
#pragma once

namespace seedforge {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// "generic", "avx2", "avx512".
const char* isa_name(Isa isa);

// Whether this CPU runs the level: avx2 means AVX2 + FMA, avx512 means
// AVX-512F + AVX2 + FMA (what the kernels are compiled with). Always true for generic.
bool cpu_has_isa(Isa isa);

// Every level up to this one runs here (the levels are nested).
Isa cpu_best_isa();

// Every level, lowest first, for loops over the variants.
inline constexpr Isa kAllIsas[] = {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512};

// The highest level the dispatch may use: this CPU's best, or the level named
// by the environment variable SEEDFORGE_ISA (read at each call, so a test can
// set it). Throws usage_error naming the variable for an unknown name or for a
// level this CPU cannot run.
Isa isa_ceiling();

}  // namespace seedforge
