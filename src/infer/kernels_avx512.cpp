// AVX-512 kernels without VNNI (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx2 -mfma -mf16c): maddubs + madd. Code in kernels_avx512_impl.h.
#include "infer/kernels_attention_impl.h"
#include "infer/kernels_avx512_impl.h"

namespace seedforge::infer {

Kernels kernels_avx512() {
  Kernels k = kernels_generic();
  k.name = "avx512";
  k.isa = Isa::kAvx512;
  k.ternary_int8 = ternary_int8;
  k.levels_int8 = levels_int8;
  k.dense = dense;
  k.attend = attend_impl;
  return k;
}

}  // namespace seedforge::infer
