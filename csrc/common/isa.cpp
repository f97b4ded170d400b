#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace pyfast {

static Isa detect_isa() {
  Isa best = Isa::kGeneric;
#if defined(PYFAST_HAVE_AVX512) && defined(PYFAST_HAVE_AVX2) && \
    (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::kAvx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    best = Isa::kAvx512;
#endif
  if (const char* cap = std::getenv("PYFAST_CPU_ISA")) {
    Isa limit = best;
    if (std::strcmp(cap, "generic") == 0)
      limit = Isa::kGeneric;
    else if (std::strcmp(cap, "avx2") == 0)
      limit = Isa::kAvx2;
    else if (std::strcmp(cap, "avx512") == 0)
      limit = Isa::kAvx512;
    if (static_cast<int>(limit) < static_cast<int>(best)) best = limit;
  }
  return best;
}

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    default:
      return "generic";
  }
}

const char* compiled_isas() {
#if defined(PYFAST_HAVE_AVX512) && defined(PYFAST_HAVE_AVX2)
  return "generic,avx2,avx512";
#else
  return "generic";
#endif
}

}  // namespace pyfast
