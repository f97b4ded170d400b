// OpenMP helpers: the kernels parallelise with OpenMP when it is available
// and run serially otherwise.
#pragma once
#include <algorithm>
#include <cstdint>
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

// body(begin, end) over [0, n) in max_threads() equal ranges, on threads started for
// this call and joined before it returns. Unlike an OpenMP team, nothing spins after
// the call: for kernels that run between another library's parallel work (ONNX
// Runtime's convolutions), whose threads an idle-spinning team would slow down.
template <typename Body>
void parallel_ranges_joined(int64_t n, Body body) {
  const int64_t threads = std::min<int64_t>(max_threads(), n);
  if (threads <= 1) {
    if (n > 0) body(int64_t(0), n);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads - 1));
  for (int64_t t = 1; t < threads; ++t)
    workers.emplace_back([&body, n, threads, t] { body(n * t / threads, n * (t + 1) / threads); });
  body(int64_t(0), n / threads);
  for (auto& worker : workers) worker.join();
}

}  // namespace pyfast
