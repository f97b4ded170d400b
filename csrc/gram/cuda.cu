// Gram matrix CUDA kernels.
//
// Forward (SYRK): only the tile pairs (ti <= tj) of the upper triangle are
// launched, each 64x64 tile split along N over gridDim.y so that small C with
// large H*W still fills the GPU; partial tiles are added with atomics into a
// zeroed output, then mirrored to the lower triangle.
// Backward (GEMM): dX = S F with S = (dG + dG^T) * scale formed while loading
// the shared-memory tiles, so S is never materialised.
#include <algorithm>

#include "../common/cuda_utils.cuh"
#include "gram.h"

namespace pyfast::gram_cuda {
namespace {

constexpr int kTile = 64;      // output tile edge
constexpr int kDepth = 16;     // reduction step held in shared memory
constexpr int kThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each

// Maps a linear index over the upper-triangular tile pairs to (ti, tj), ti <= tj.
__device__ inline void tile_pair(int index, int tiles, int& ti, int& tj) {
  int row = 0;
  while (index >= tiles - row) {
    index -= tiles - row;
    ++row;
  }
  ti = row;
  tj = row + index;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    syrk_upper_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t batch, int C, int64_t N,
                      int64_t k_per_split, int tiles, T scale) {
  __shared__ T a_tile[kDepth][kTile + 1];
  __shared__ T b_tile[kDepth][kTile + 1];
  int ti, tj;
  tile_pair(blockIdx.x, tiles, ti, tj);
  const int i0 = ti * kTile, j0 = tj * kTile;
  const int64_t k_begin = static_cast<int64_t>(blockIdx.y) * k_per_split;
  const int64_t k_end = min(N, k_begin + k_per_split);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* f = x + b * C * N;
    T acc[4][4] = {};
    for (int64_t k0 = k_begin; k0 < k_end; k0 += kDepth) {
      // 64 rows x 16 columns per operand: each thread loads 4 elements of each.
      for (int e = threadIdx.x; e < kTile * kDepth; e += kThreads) {
        const int r = e / kDepth, c = e % kDepth;
        const int64_t k = k0 + c;
        const bool k_ok = k < k_end;
        a_tile[c][r] = (i0 + r < C && k_ok) ? f[static_cast<int64_t>(i0 + r) * N + k] : T(0);
        b_tile[c][r] = (j0 + r < C && k_ok) ? f[static_cast<int64_t>(j0 + r) * N + k] : T(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kDepth; ++kk) {
        T a[4], bv[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) a[r] = a_tile[kk][ty + 16 * r];
#pragma unroll
        for (int c = 0; c < 4; ++c) bv[c] = b_tile[kk][tx + 16 * c];
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[r][c] = fma(a[r], bv[c], acc[r][c]);
      }
      __syncthreads();
    }
    T* g = out + b * C * C;
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int i = i0 + ty + 16 * r, j = j0 + tx + 16 * c;
        if (i < C && j < C && i <= j)
          atomicAdd(g + static_cast<int64_t>(i) * C + j, acc[r][c] * scale);
      }
  }  // batch
}

template <typename T>
__global__ void mirror_lower_kernel(T* __restrict__ out, int C, int64_t total) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = e / (static_cast<int64_t>(C) * C);
    const int i = static_cast<int>((e / C) % C), j = static_cast<int>(e % C);
    if (i > j) out[e] = out[b * C * C + static_cast<int64_t>(j) * C + i];
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    gram_backward_kernel(const T* __restrict__ x, const T* __restrict__ grad_out,
                         T* __restrict__ grad_x, int64_t batch, int C, int64_t N, T scale) {
  __shared__ T s_tile[kDepth][kTile + 1];  // S[i0 + r][k0 + kk] at [kk][r]
  __shared__ T f_tile[kDepth][kTile];      // F[k0 + kk][n0 + c] at [kk][c]
  const int i0 = blockIdx.y * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* f = x + b * C * N;
    const T* dg = grad_out + b * C * C;
    T acc[4][4] = {};
    for (int k0 = 0; k0 < C; k0 += kDepth) {
      for (int e = threadIdx.x; e < kTile * kDepth; e += kThreads) {
        const int r = e / kDepth, kk = e % kDepth;
        const int i = i0 + r, k = k0 + kk;
        s_tile[kk][r] =
            (i < C && k < C)
                ? (dg[static_cast<int64_t>(i) * C + k] + dg[static_cast<int64_t>(k) * C + i]) *
                      scale
                : T(0);
        const int kk2 = e / kTile, c = e % kTile;
        const int k2 = k0 + kk2;
        const int64_t n = n0 + c;
        f_tile[kk2][c] = (k2 < C && n < N) ? f[static_cast<int64_t>(k2) * N + n] : T(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kDepth; ++kk) {
        T a[4], bv[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) a[r] = s_tile[kk][ty + 16 * r];
#pragma unroll
        for (int c = 0; c < 4; ++c) bv[c] = f_tile[kk][tx + 16 * c];
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[r][c] = fma(a[r], bv[c], acc[r][c]);
      }
      __syncthreads();
    }
    T* gx = grad_x + b * C * N;
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int i = i0 + ty + 16 * r;
        const int64_t n = n0 + tx + 16 * c;
        if (i < C && n < N) gx[static_cast<int64_t>(i) * N + n] = acc[r][c];
      }
  }  // batch
}

// gridDim.y/z are limited to 65535; kernels loop over the batch beyond that.
unsigned batch_blocks(int64_t batch) {
  return static_cast<unsigned>(std::min<int64_t>(batch, 65535));
}

template <typename T>
void forward_impl(const T* x, T* out, int64_t B, int64_t C, int64_t N, T scale, int device,
                  std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::as_stream(stream);
  cuda::check(cudaMemsetAsync(out, 0, sizeof(T) * B * C * C, s), "cudaMemsetAsync");
  const int tiles = static_cast<int>(cuda::ceil_div(C, kTile));
  const int64_t pairs = static_cast<int64_t>(tiles) * (tiles + 1) / 2;
  // Enough blocks for ~4 waves, each split reducing at least 256 columns.
  const int64_t want = 4 * static_cast<int64_t>(cuda::multiprocessor_count());
  int64_t splits = std::max<int64_t>(1, want / std::max<int64_t>(1, pairs * B));
  splits = std::min(splits, std::max<int64_t>(1, N / 256));
  const int64_t k_per_split = cuda::ceil_div(cuda::ceil_div(N, splits), kDepth) * kDepth;
  splits = cuda::ceil_div(N, k_per_split);
  dim3 grid(static_cast<unsigned>(pairs), static_cast<unsigned>(splits), batch_blocks(B));
  syrk_upper_kernel<T>
      <<<grid, kThreads, 0, s>>>(x, out, B, static_cast<int>(C), N, k_per_split, tiles, scale);
  cuda::check_launch("gram syrk_upper_kernel");
  const int64_t total = B * C * C;
  const int blocks = static_cast<int>(std::min<int64_t>(cuda::ceil_div(total, 256), 65535));
  mirror_lower_kernel<T><<<blocks, 256, 0, s>>>(out, static_cast<int>(C), total);
  cuda::check_launch("gram mirror_lower_kernel");
}

template <typename T>
void backward_impl(const T* x, const T* grad_out, T* grad_x, int64_t B, int64_t C, int64_t N,
                   T scale, int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::as_stream(stream);
  dim3 grid(static_cast<unsigned>(cuda::ceil_div(N, kTile)),
            static_cast<unsigned>(cuda::ceil_div(C, kTile)), batch_blocks(B));
  gram_backward_kernel<T>
      <<<grid, kThreads, 0, s>>>(x, grad_out, grad_x, B, static_cast<int>(C), N, scale);
  cuda::check_launch("gram gram_backward_kernel");
}

}  // namespace

void forward(const float* x, float* out, int64_t B, int64_t C, int64_t N, float scale, int device,
             std::uintptr_t stream) {
  forward_impl(x, out, B, C, N, scale, device, stream);
}
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t N, double scale,
             int device, std::uintptr_t stream) {
  forward_impl(x, out, B, C, N, scale, device, stream);
}
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t N,
              float scale, int device, std::uintptr_t stream) {
  backward_impl(x, grad_out, grad_x, B, C, N, scale, device, stream);
}
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t N, double scale, int device, std::uintptr_t stream) {
  backward_impl(x, grad_out, grad_x, B, C, N, scale, device, stream);
}

}  // namespace pyfast::gram_cuda
