// Occlusion sweep CPU kernels. Compiled once per ISA into pyfast::occlusion_cpu::PYFAST_ISA_NS.
//
// fill: work items are the (window, channel) planes of the output; each row is a copy
// of the image row with the window's span overwritten by the baseline, written once.
// heatmap: work items are image rows; a pixel's value is the mean of the drops of the
// windows covering it, gathered (no atomics, deterministic) and summed in float64.
#include <algorithm>
#include <vector>

#include "../common/memory.h"
#include "../common/parallel.h"
#include "occlusion.h"

namespace pyfast::occlusion_cpu::PYFAST_ISA_NS {
namespace {

template <typename T>
void fill_impl(const T* x, const T* baseline, T value, T* out, int64_t P, int64_t C, int64_t H,
               int64_t W, const OcclusionGrid& g, int64_t first) {
  const int64_t plane = H * W;
  advise_huge_pages(out, static_cast<size_t>(P * C * plane) * sizeof(T));
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < P * C; ++item) {
    const int64_t p = item / C, c = item % C;
    const int64_t k = first + p;
    const int64_t top = (k / g.cols) * g.stride_h, left = (k % g.cols) * g.stride_w;
    const int64_t bottom = std::min(top + g.window_h, H), right = std::min(left + g.window_w, W);
    const T* src = x + c * plane;
    const T* base = baseline ? baseline + c * plane : nullptr;
    T* dst = out + item * plane;
    std::copy(src, src + top * W, dst);
    for (int64_t i = top; i < bottom; ++i) {
      const T* s = src + i * W;
      T* d = dst + i * W;
      std::copy(s, s + left, d);
      if (base)
        std::copy(base + i * W + left, base + i * W + right, d + left);
      else
        std::fill(d + left, d + right, value);
      std::copy(s + right, s + W, d + right);
    }
    std::copy(src + bottom * W, src + plane, dst + bottom * W);
  }
}

template <typename T>
void heatmap_impl(const T* drops, T* out, int64_t N, int64_t H, int64_t W,
                  const OcclusionGrid& g) {
  std::vector<CoverRange> col_ranges(static_cast<size_t>(W));
  for (int64_t j = 0; j < W; ++j)
    col_ranges[static_cast<size_t>(j)] = covering_windows(j, g.window_w, g.stride_w, g.cols);
  const int64_t windows = g.rows * g.cols;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < N * H; ++item) {
    const int64_t n = item / H, i = item % H;
    const CoverRange rr = covering_windows(i, g.window_h, g.stride_h, g.rows);
    const T* d = drops + n * windows;
    T* o = out + item * W;
    for (int64_t j = 0; j < W; ++j) {
      const CoverRange cr = col_ranges[static_cast<size_t>(j)];
      double sum = 0.0;
      for (int64_t r = rr.lo; r <= rr.hi; ++r)
        for (int64_t c = cr.lo; c <= cr.hi; ++c) sum += static_cast<double>(d[r * g.cols + c]);
      const int64_t count = std::max<int64_t>(rr.hi - rr.lo + 1, 0) *
                            std::max<int64_t>(cr.hi - cr.lo + 1, 0);
      o[j] = static_cast<T>(sum / static_cast<double>(count));  // 0 / 0 = NaN: no window covers
    }
  }
}

}  // namespace

void fill(const float* x, const float* baseline, float value, float* out, int64_t P, int64_t C,
          int64_t H, int64_t W, const OcclusionGrid& g, int64_t first) {
  fill_impl(x, baseline, value, out, P, C, H, W, g, first);
}
void fill(const double* x, const double* baseline, double value, double* out, int64_t P,
          int64_t C, int64_t H, int64_t W, const OcclusionGrid& g, int64_t first) {
  fill_impl(x, baseline, value, out, P, C, H, W, g, first);
}
void heatmap(const float* drops, float* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g) {
  heatmap_impl(drops, out, N, H, W, g);
}
void heatmap(const double* drops, double* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g) {
  heatmap_impl(drops, out, N, H, W, g);
}

}  // namespace pyfast::occlusion_cpu::PYFAST_ISA_NS
