// AVX-512 VNNI kernels (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni -mavx2 -mfma -mf16c): one dpbusd per 64 weights and token.
// Code in kernels_avx512_impl.h.
#define SEEDFORGE_INFER_VNNI 1
#include "infer/kernels_attention_impl.h"
#include "infer/kernels_avx512_impl.h"

namespace seedforge::infer {

Kernels kernels_avx512vnni() {
  Kernels k = kernels_generic();
  k.name = "avx512vnni";
  k.isa = Isa::kAvx512;
  k.ternary_int8 = ternary_int8;
  k.levels_int8 = levels_int8;
  k.dense = dense;
  k.attend = attend_impl;
  return k;
}

}  // namespace seedforge::infer
