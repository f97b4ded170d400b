// Occlusion sweeps (Zeiler & Fergus 2014; Captum's Occlusion with the window over all channels).
//
// A sweep slides a window_h x window_w window over an (H, W) image on a grid of
// rows x cols positions: window k covers rows [top, min(top + window_h, H)) and
// columns [left, min(left + window_w, W)) with top = (k / cols) * stride_h and
// left = (k % cols) * stride_w, so the last window of a row or column is cut off
// at the border when (H - window_h) is not a multiple of stride_h (Captum's rule).
//
// Two kernels serve a sweep:
//   occlusion_fill     writes the occluded copies of one image for a range of windows,
//   occlusion_heatmap  turns the output drop of every window into the per-pixel mean
//                      over the windows that cover the pixel (counts are analytic).
#pragma once
#include <cstdint>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

struct OcclusionGrid {
  int64_t window_h = 1, window_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t rows = 1, cols = 1;  // window positions along H and W
};

// x: (C, H, W); out: (P, C, H, W) receives x with window first + p replaced by the baseline:
// baseline[c, i, j] when `baseline` is non-null ((C, H, W), x's dtype and device), else
// baseline_value.
void occlusion_fill(const TensorArg& x, const TensorArg* baseline, double baseline_value,
                    const TensorArg& out, const OcclusionGrid& grid, int64_t first,
                    std::uintptr_t stream);
// drops: (N, rows * cols), the output drop of each window; out: (N, H, W) receives, per pixel,
// the mean of the drops of the windows covering it (NaN where none does).
void occlusion_heatmap(const TensorArg& drops, const TensorArg& out, const OcclusionGrid& grid,
                       std::uintptr_t stream);

namespace occlusion_cpu {
#define PYFAST_OCCLUSION_CPU_DECLARE(ns)                                                        \
  namespace ns {                                                                                \
  void fill(const float* x, const float* baseline, float value, float* out, int64_t P,         \
            int64_t C, int64_t H, int64_t W, const OcclusionGrid& g, int64_t first);            \
  void fill(const double* x, const double* baseline, double value, double* out, int64_t P,     \
            int64_t C, int64_t H, int64_t W, const OcclusionGrid& g, int64_t first);            \
  void heatmap(const float* drops, float* out, int64_t N, int64_t H, int64_t W,                 \
               const OcclusionGrid& g);                                                         \
  void heatmap(const double* drops, double* out, int64_t N, int64_t H, int64_t W,               \
               const OcclusionGrid& g);                                                         \
  }
PYFAST_FOR_EACH_ISA(PYFAST_OCCLUSION_CPU_DECLARE)
#undef PYFAST_OCCLUSION_CPU_DECLARE
}  // namespace occlusion_cpu

#if defined(PYFAST_WITH_CUDA)
namespace occlusion_cuda {
void fill(const float* x, const float* baseline, float value, float* out, int64_t P, int64_t C,
          int64_t H, int64_t W, const OcclusionGrid& g, int64_t first, int device,
          std::uintptr_t stream);
void fill(const double* x, const double* baseline, double value, double* out, int64_t P,
          int64_t C, int64_t H, int64_t W, const OcclusionGrid& g, int64_t first, int device,
          std::uintptr_t stream);
void heatmap(const float* drops, float* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g, int device, std::uintptr_t stream);
void heatmap(const double* drops, double* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g, int device, std::uintptr_t stream);
}  // namespace occlusion_cuda
#endif

// Window positions [lo, hi] along one axis whose windows cover pixel i: the
// positions r with r * stride <= i < r * stride + window, 0 <= r < count. Empty when lo > hi.
struct CoverRange {
  int64_t lo, hi;
};
#if defined(__CUDACC__)
__host__ __device__
#endif
inline CoverRange covering_windows(int64_t i, int64_t window, int64_t stride, int64_t count) {
  const int64_t first = i - window + 1;  // the window must start after this pixel minus window
  int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  int64_t hi = i / stride;
  if (hi > count - 1) hi = count - 1;
  return {lo, hi};
}

}  // namespace pyfast
