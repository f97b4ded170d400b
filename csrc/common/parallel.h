// OpenMP helpers: the kernels parallelise with OpenMP when it is available
// and run serially otherwise.
#pragma once
#include <algorithm>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pyfast {

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline void set_max_threads(int n) {
#if defined(_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

inline constexpr bool openmp_enabled() {
#if defined(_OPENMP)
  return true;
#else
  return false;
#endif
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// body(begin, end) over [0, n) in up to `threads` equal ranges (max_threads() when <= 0) of
// at least `grain` items, on threads started for this call and joined before it returns.
// Unlike an OpenMP team, nothing spins after the call: for kernels that run between
// another library's parallel work (ONNX Runtime's convolutions), whose threads a spinning
// team would slow. A thread that cannot be started leaves its range to the caller's thread.
template <typename Body>
void parallel_ranges_joined(int64_t n, Body body, int threads = 0, int64_t grain = 1) {
  constexpr int64_t kMaxThreads = 256;
  const int64_t wanted = std::min<int64_t>(threads > 0 ? threads : max_threads(), kMaxThreads);
  const int64_t count =
      std::max<int64_t>(1, std::min<int64_t>(wanted, n / std::max<int64_t>(grain, 1)));
  if (count <= 1) {
    if (n > 0) body(int64_t(0), n);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(count - 1));
  int64_t started = 1;
  try {
    for (; started < count; ++started) {
      const int64_t t = started;
      workers.emplace_back([&body, n, count, t] { body(n * t / count, n * (t + 1) / count); });
    }
  } catch (const std::system_error&) {  // no more threads: this one does the rest
  }
  body(int64_t(0), n / count);
  for (int64_t t = started; t < count; ++t) body(n * t / count, n * (t + 1) / count);
  for (auto& worker : workers) worker.join();
}

}  // namespace pyfast
