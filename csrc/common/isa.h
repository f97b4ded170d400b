// Runtime choice among the per-ISA builds of the CPU kernels.
//
// Each CPU kernel source (<op>/cpu.cpp) is compiled several times, once per
// instruction set, into namespace pyfast::<isa> (avx512, avx2, generic); the
// op's entry point calls the best one the running processor supports. This
// keeps one portable wheel fast on every x86-64 machine.
#pragma once

namespace pyfast {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// The widest ISA that was both compiled in and is supported by this CPU,
// capped by the PYFAST_CPU_ISA environment variable (generic|avx2|avx512) if set.
Isa active_isa();
const char* isa_name(Isa isa);
// Which ISAs the extension was compiled with, as a comma-separated list.
const char* compiled_isas();

}  // namespace pyfast

// Expands DECLARE(ns) for each ISA namespace compiled into this build.
#if defined(PYFAST_HAVE_AVX512) && defined(PYFAST_HAVE_AVX2)
#define PYFAST_FOR_EACH_ISA(DECLARE) DECLARE(generic) DECLARE(avx2) DECLARE(avx512)
#else
#define PYFAST_FOR_EACH_ISA(DECLARE) DECLARE(generic)
#endif

// Calls ns::fn(args...) for the active ISA's namespace ns.
#if defined(PYFAST_HAVE_AVX512) && defined(PYFAST_HAVE_AVX2)
#define PYFAST_ISA_DISPATCH(fn, ...)  \
  do {                                \
    switch (::pyfast::active_isa()) { \
      case ::pyfast::Isa::kAvx512:    \
        avx512::fn(__VA_ARGS__);      \
        break;                        \
      case ::pyfast::Isa::kAvx2:      \
        avx2::fn(__VA_ARGS__);        \
        break;                        \
      default:                        \
        generic::fn(__VA_ARGS__);     \
        break;                        \
    }                                 \
  } while (0)
#else
#define PYFAST_ISA_DISPATCH(fn, ...) generic::fn(__VA_ARGS__)
#endif
