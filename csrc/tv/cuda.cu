// Total variation CUDA kernels: one thread per pixel.
// Forward reduces each block's terms in float64 and adds them to its image's
// sum with one atomic. Backward recomputes the weights of the left and upper
// neighbours (reads that hit L1/L2), so it needs no second pass.
#include <algorithm>

#include "../common/cuda_utils.cuh"
#include "tv.h"

namespace pyfast::tv_cuda {
namespace {

constexpr int kThreads = 256;

struct Penalty {
  bool squared;  // beta == 2: phi(s) = s
  double eps;
  double half_beta;

  template <typename T>
  __device__ T value(T s) const {
    return squared ? s : pow(s + static_cast<T>(eps), static_cast<T>(half_beta));
  }
  // w(s) = 2 phi'(s)
  template <typename T>
  __device__ T weight(T s) const {
    return squared ? T(2)
                   : T(2) * static_cast<T>(half_beta) *
                         pow(s + static_cast<T>(eps), static_cast<T>(half_beta) - T(1));
  }
};

template <typename T>
__device__ inline void diffs(const T* plane, int64_t H, int64_t W, int64_t i, int64_t j, T& dx,
                             T& dy) {
  const T v = plane[i * W + j];
  dx = j + 1 < W ? plane[i * W + j + 1] - v : T(0);
  dy = i + 1 < H ? plane[(i + 1) * W + j] - v : T(0);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    tv_forward_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t planes, int64_t C,
                      int64_t H, int64_t W, Penalty p) {
  __shared__ double warp_sums[kThreads / 32];
  for (int64_t plane_id = blockIdx.y; plane_id < planes; plane_id += gridDim.y) {
    const T* plane = x + plane_id * H * W;
    double s = 0.0;
    for (int64_t e = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; e < H * W;
         e += static_cast<int64_t>(gridDim.x) * kThreads) {
      T dx, dy;
      diffs(plane, H, W, e / W, e % W, dx, dy);
      s += static_cast<double>(p.value(dx * dx + dy * dy));
    }
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
      atomicAdd(out + plane_id / C, static_cast<T>(total));
    }
    __syncthreads();  // warp_sums is reused by the next plane
  }  // planes
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    tv_backward_kernel(const T* __restrict__ x, const T* __restrict__ grad_out,
                       T* __restrict__ grad_x, int64_t planes, int64_t C, int64_t H, int64_t W,
                       Penalty p) {
  for (int64_t plane_id = blockIdx.y; plane_id < planes; plane_id += gridDim.y) {
    const T* plane = x + plane_id * H * W;
    T* gplane = grad_x + plane_id * H * W;
    const T g = grad_out[plane_id / C];
    for (int64_t e = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; e < H * W;
         e += static_cast<int64_t>(gridDim.x) * kThreads) {
      const int64_t i = e / W, j = e % W;
      T dx, dy;
      diffs(plane, H, W, i, j, dx, dy);
      const T w = p.weight(dx * dx + dy * dy);
      T incoming = T(0);
      if (j > 0) {  // this pixel is the right end of the left neighbour's dx
        T ldx, ldy;
        diffs(plane, H, W, i, j - 1, ldx, ldy);
        incoming += p.weight(ldx * ldx + ldy * ldy) * ldx;
      }
      if (i > 0) {  // and the lower end of the upper neighbour's dy
        T udx, udy;
        diffs(plane, H, W, i - 1, j, udx, udy);
        incoming += p.weight(udx * udx + udy * udy) * udy;
      }
      gplane[e] = g * (incoming - w * (dx + dy));
    }
  }  // planes
}

dim3 pixel_grid(int64_t planes, int64_t pixels) {
  const int64_t blocks = std::min<int64_t>(cuda::ceil_div(pixels, kThreads), 4096);
  return dim3(static_cast<unsigned>(blocks),
              static_cast<unsigned>(std::min<int64_t>(planes, 65535)));
}

Penalty make_penalty(TvParams p) { return Penalty{p.beta == 2.0, p.eps, p.beta / 2.0}; }

template <typename T>
void forward_impl(const T* x, T* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams prm,
                  int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::as_stream(stream);
  cuda::check(cudaMemsetAsync(out, 0, sizeof(T) * B, s), "cudaMemsetAsync");
  tv_forward_kernel<T>
      <<<pixel_grid(B * C, H * W), kThreads, 0, s>>>(x, out, B * C, C, H, W, make_penalty(prm));
  cuda::check_launch("tv_forward_kernel");
}

template <typename T>
void backward_impl(const T* x, const T* grad_out, T* grad_x, int64_t B, int64_t C, int64_t H,
                   int64_t W, TvParams prm, int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::as_stream(stream);
  tv_backward_kernel<T><<<pixel_grid(B * C, H * W), kThreads, 0, s>>>(x, grad_out, grad_x, B * C, C,
                                                                      H, W, make_penalty(prm));
  cuda::check_launch("tv_backward_kernel");
}

}  // namespace

void forward(const float* x, float* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p,
             int device, std::uintptr_t stream) {
  forward_impl(x, out, B, C, H, W, p, device, stream);
}
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p,
             int device, std::uintptr_t stream) {
  forward_impl(x, out, B, C, H, W, p, device, stream);
}
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t H,
              int64_t W, TvParams p, int device, std::uintptr_t stream) {
  backward_impl(x, grad_out, grad_x, B, C, H, W, p, device, stream);
}
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t H, int64_t W, TvParams p, int device, std::uintptr_t stream) {
  backward_impl(x, grad_out, grad_x, B, C, H, W, p, device, stream);
}

}  // namespace pyfast::tv_cuda
