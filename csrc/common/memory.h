// Memory hints for large outputs written by the CPU kernels.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyfast {

// Asks Linux to back the 2 MiB-aligned interior of [p, p + bytes) with
// transparent huge pages before the kernel's first write to it. Outputs of tens
// of MiB are freshly mapped by the allocator on every call, and faulting them in
// 4 KiB at a time can cost as much as the computation. A hint only: it does not
// change the memory's contents, and failures (no THP, other OS) are ignored.
inline void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t(2) << 20;
  if (bytes < 2 * kHuge) return;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace pyfast
