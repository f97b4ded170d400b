// Occlusion sweep CUDA kernels: one thread per output element (grid-stride loops).
// fill reads the image (and baseline) through the cache, so the P copies cost one
// write each; heatmap gathers the covering windows' drops per pixel in float64.
#include <algorithm>

#include "../common/cuda_utils.cuh"
#include "occlusion.h"

namespace pyfast::occlusion_cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    fill_kernel(const T* __restrict__ x, const T* __restrict__ baseline, T value,
                T* __restrict__ out, int64_t P, int64_t C, int64_t H, int64_t W, OcclusionGrid g,
                int64_t first) {
  const int64_t image = C * H * W, total = P * image;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t k = first + e / image, offset = e % image;
    const int64_t i = (offset / W) % H, j = offset % W;
    const int64_t top = (k / g.cols) * g.stride_h, left = (k % g.cols) * g.stride_w;
    const bool inside = i >= top && i < top + g.window_h && j >= left && j < left + g.window_w;
    out[e] = inside ? (baseline ? baseline[offset] : value) : x[offset];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    heatmap_kernel(const T* __restrict__ drops, T* __restrict__ out, int64_t N, int64_t H,
                   int64_t W, OcclusionGrid g) {
  const int64_t total = N * H * W, windows = g.rows * g.cols;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t n = e / (H * W), i = (e / W) % H, j = e % W;
    const CoverRange rr = covering_windows(i, g.window_h, g.stride_h, g.rows);
    const CoverRange cr = covering_windows(j, g.window_w, g.stride_w, g.cols);
    const T* d = drops + n * windows;
    double sum = 0.0;
    for (int64_t r = rr.lo; r <= rr.hi; ++r)
      for (int64_t c = cr.lo; c <= cr.hi; ++c) sum += static_cast<double>(d[r * g.cols + c]);
    const int64_t rows = rr.hi >= rr.lo ? rr.hi - rr.lo + 1 : 0;
    const int64_t cols = cr.hi >= cr.lo ? cr.hi - cr.lo + 1 : 0;
    out[e] = static_cast<T>(sum / static_cast<double>(rows * cols));
  }
}

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(cuda::ceil_div(n, kThreads), 65535));
}

template <typename T>
void fill_impl(const T* x, const T* baseline, T value, T* out, int64_t P, int64_t C, int64_t H,
               int64_t W, const OcclusionGrid& g, int64_t first, int device,
               std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  fill_kernel<T><<<blocks_for(P * C * H * W), kThreads, 0, cuda::as_stream(stream)>>>(
      x, baseline, value, out, P, C, H, W, g, first);
  cuda::check_launch("occlusion fill_kernel");
}

template <typename T>
void heatmap_impl(const T* drops, T* out, int64_t N, int64_t H, int64_t W,
                  const OcclusionGrid& g, int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  heatmap_kernel<T><<<blocks_for(N * H * W), kThreads, 0, cuda::as_stream(stream)>>>(
      drops, out, N, H, W, g);
  cuda::check_launch("occlusion heatmap_kernel");
}

}  // namespace

void fill(const float* x, const float* baseline, float value, float* out, int64_t P, int64_t C,
          int64_t H, int64_t W, const OcclusionGrid& g, int64_t first, int device,
          std::uintptr_t stream) {
  fill_impl(x, baseline, value, out, P, C, H, W, g, first, device, stream);
}
void fill(const double* x, const double* baseline, double value, double* out, int64_t P,
          int64_t C, int64_t H, int64_t W, const OcclusionGrid& g, int64_t first, int device,
          std::uintptr_t stream) {
  fill_impl(x, baseline, value, out, P, C, H, W, g, first, device, stream);
}
void heatmap(const float* drops, float* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g, int device, std::uintptr_t stream) {
  heatmap_impl(drops, out, N, H, W, g, device, stream);
}
void heatmap(const double* drops, double* out, int64_t N, int64_t H, int64_t W,
             const OcclusionGrid& g, int device, std::uintptr_t stream) {
  heatmap_impl(drops, out, N, H, W, g, device, stream);
}

}  // namespace pyfast::occlusion_cuda
