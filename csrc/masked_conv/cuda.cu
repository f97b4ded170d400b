// Masked convolution and cached PixelCNN sampling, CUDA kernels.
//
// Direct formulations that visit only the kept taps (tap t < taps() at
// (t / k, t % k)): one thread per output element for the forward and the input
// gradient, one block per kept weight (and per bias) reducing over the batch and
// the pixels for the parameter gradients. The sampler launches, per position,
// one kernel per layer (a block per image, a thread per output channel) and one
// that draws the pixels; everything is enqueued on the caller's stream.
#include <algorithm>

#include "../common/cuda_utils.cuh"
#include "masked_conv.h"

namespace pyfast::masked_conv_cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(cuda::ceil_div(n, kThreads), 65535)));
}

struct Dims {
  int64_t B, Cin, Cout, H, W, k, c, taps;
};

Dims dims_of(const MaskedConvShape& s) {
  return {s.batch, s.in_channels, s.out_channels, s.height, s.width, s.kernel, s.half(), s.taps()};
}

template <typename T>
__global__ void forward_kernel(const T* __restrict__ x, const T* __restrict__ w,
                               const T* __restrict__ bias, T* __restrict__ out, Dims d) {
  const int64_t total = d.B * d.Cout * d.H * d.W;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % d.W, i = (e / d.W) % d.H, co = (e / (d.W * d.H)) % d.Cout,
                  b = e / (d.W * d.H * d.Cout);
    T acc = bias ? bias[co] : T(0);
    for (int64_t ci = 0; ci < d.Cin; ++ci) {
      const T* xp = x + (b * d.Cin + ci) * d.H * d.W;
      const T* wp = w + (co * d.Cin + ci) * d.k * d.k;
      for (int64_t t = 0; t < d.taps; ++t) {
        const int64_t y = i + t / d.k - d.c, xx = j + t % d.k - d.c;
        if (y >= 0 && xx >= 0 && xx < d.W) acc += wp[t] * xp[y * d.W + xx];
      }
    }
    out[e] = acc;
  }
}

template <typename T>
__global__ void grad_input_kernel(const T* __restrict__ g, const T* __restrict__ w,
                                  T* __restrict__ gx, Dims d) {
  const int64_t total = d.B * d.Cin * d.H * d.W;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % d.W, i = (e / d.W) % d.H, ci = (e / (d.W * d.H)) % d.Cin,
                  b = e / (d.W * d.H * d.Cin);
    T acc = 0;
    for (int64_t co = 0; co < d.Cout; ++co) {
      const T* gp = g + (b * d.Cout + co) * d.H * d.W;
      const T* wp = w + (co * d.Cin + ci) * d.k * d.k;
      for (int64_t t = 0; t < d.taps; ++t) {
        const int64_t y = i + d.c - t / d.k, xx = j + d.c - t % d.k;
        if (y < d.H && xx >= 0 && xx < d.W) acc += wp[t] * gp[y * d.W + xx];
      }
    }
    gx[e] = acc;
  }
}

template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[kThreads];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  return partial[0];
}

// One block per kept weight (co, ci, t): sum over b, i, j of g[b, co, i, j] * x[b, ci, i+dy-c, j+dx-c].
template <typename T>
__global__ void __launch_bounds__(kThreads)
    grad_weight_kernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ gw, Dims d) {
  const int64_t t = blockIdx.x % d.taps, ci = (blockIdx.x / d.taps) % d.Cin,
                co = blockIdx.x / (d.taps * d.Cin);
  const int64_t dy = t / d.k - d.c, dx = t % d.k - d.c, HW = d.H * d.W;
  T acc = 0;
  for (int64_t e = threadIdx.x; e < d.B * HW; e += kThreads) {
    const int64_t b = e / HW, i = (e % HW) / d.W, j = e % d.W;
    const int64_t y = i + dy, xx = j + dx;
    if (y >= 0 && xx >= 0 && xx < d.W)
      acc += g[(b * d.Cout + co) * HW + e % HW] * x[(b * d.Cin + ci) * HW + y * d.W + xx];
  }
  const T total = block_sum(acc);
  if (threadIdx.x == 0) gw[(co * d.Cin + ci) * d.k * d.k + t] = total;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    grad_bias_kernel(const T* __restrict__ g, T* __restrict__ gb, Dims d) {
  const int64_t co = blockIdx.x, HW = d.H * d.W;
  T acc = 0;
  for (int64_t e = threadIdx.x; e < d.B * HW; e += kThreads)
    acc += g[((e / HW) * d.Cout + co) * HW + e % HW];
  const T total = block_sum(acc);
  if (threadIdx.x == 0) gb[co] = total;
}

template <typename T>
void forward_impl(const T* x, const T* w, const T* bias, T* out, const MaskedConvShape& s,
                  int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  const Dims d = dims_of(s);
  forward_kernel<T><<<grid_for(d.B * d.Cout * d.H * d.W), kThreads, 0, cuda::as_stream(stream)>>>(
      x, w, bias, out, d);
  cuda::check_launch("masked_conv forward_kernel");
}

template <typename T>
void backward_impl(const T* x, const T* w, const T* g, T* gx, T* gw, T* gb,
                   const MaskedConvShape& s, int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t st = cuda::as_stream(stream);
  const Dims d = dims_of(s);
  if (gx) {
    grad_input_kernel<T><<<grid_for(d.B * d.Cin * d.H * d.W), kThreads, 0, st>>>(g, w, gx, d);
    cuda::check_launch("masked_conv grad_input_kernel");
  }
  if (gw) {
    cuda::check(cudaMemsetAsync(gw, 0, sizeof(T) * d.Cout * d.Cin * d.k * d.k, st),
                "cudaMemsetAsync");
    grad_weight_kernel<T>
        <<<static_cast<unsigned>(d.Cout * d.Cin * d.taps), kThreads, 0, st>>>(x, g, gw, d);
    cuda::check_launch("masked_conv grad_weight_kernel");
  }
  if (gb) {
    grad_bias_kernel<T><<<static_cast<unsigned>(d.Cout), kThreads, 0, st>>>(g, gb, d);
    cuda::check_launch("masked_conv grad_bias_kernel");
  }
}

// ---------------------------------------------------------------------------
// Cached sampling.

// Block b, thread co (strided): the layer's output for image b at position (i, j).
template <typename T>
__global__ void layer_at_kernel(LayerView<T> v, int64_t B, int64_t W, int64_t i, int64_t j) {
  const int64_t b = blockIdx.x, c = v.kernel / 2, kk = v.kernel * v.kernel;
  const int64_t taps = c * v.kernel + c + (v.mask_b ? 1 : 0);
  const int64_t p = i * W + j;
  for (int64_t co = threadIdx.x; co < v.cout; co += blockDim.x) {
    T acc = v.bias[co];
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t y = i + t / v.kernel - c, x = j + t % v.kernel - c;
      if (y < 0 || x < 0 || x >= W) continue;
      const T* src = v.in + ((y * W + x) * B + b) * v.cin;
      const T* wp = v.weight + co * v.cin * kk + t;
      for (int64_t ci = 0; ci < v.cin; ++ci) {
        T a = src[ci];
        if (v.relu_input) a = a > T(0) ? a : T(0);
        acc += wp[ci * kk] * a;
      }
    }
    const int64_t at = (p * B + b) * v.cout + co;
    if (v.residual) acc += v.residual[at];
    v.out[at] = acc;
  }
}

template <typename T>
__global__ void draw_kernel(const T* __restrict__ logits, const T* __restrict__ uniforms,
                            T* __restrict__ pixels, T* __restrict__ image, int64_t B, int64_t P,
                            int64_t p, int64_t levels) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  const T u = uniforms[b * P + p];
  T level = 0;
  if (levels == 2) {
    level = u < T(1) / (T(1) + exp(-logits[b])) ? T(1) : T(0);
  } else {
    const T* l = logits + b * levels;
    T top = l[0];
    for (int64_t k = 1; k < levels; ++k) top = max(top, l[k]);
    T total = 0;
    for (int64_t k = 0; k < levels; ++k) total += exp(l[k] - top);
    T cdf = 0;
    for (int64_t k = 0; k + 1 < levels; ++k) {
      cdf += exp(l[k] - top) / total;
      if (cdf <= u) level += T(1);
    }
  }
  pixels[b * P + p] = level;
  image[p * B + b] = level / static_cast<T>(levels - 1);
}

template <typename T>
void sample_impl(const std::vector<LayerView<T>>& layers, const T* uniforms, T* pixels, T* image,
                 int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start, int64_t stop,
                 int device, std::uintptr_t stream) {
  cuda::DeviceGuard guard(device);
  cudaStream_t st = cuda::as_stream(stream);
  const LayerView<T>& head = layers.back();
  for (int64_t p = start; p < stop; ++p) {
    const int64_t i = p / W, j = p % W;
    for (const LayerView<T>& v : layers) {
      const int threads = static_cast<int>(std::min<int64_t>(1024, cuda::ceil_div(v.cout, 32) * 32));
      layer_at_kernel<T><<<static_cast<unsigned>(B), threads, 0, st>>>(v, B, W, i, j);
    }
    draw_kernel<T><<<static_cast<unsigned>(cuda::ceil_div(B, 128)), 128, 0, st>>>(
        head.out + p * B * head.cout, uniforms, pixels, image, B, H * W, p, levels);
  }
  cuda::check_launch("pixelcnn sampling kernels");
}

}  // namespace

void forward(const float* x, const float* w, const float* bias, float* out,
             const MaskedConvShape& s, int device, std::uintptr_t stream) {
  forward_impl(x, w, bias, out, s, device, stream);
}
void forward(const double* x, const double* w, const double* bias, double* out,
             const MaskedConvShape& s, int device, std::uintptr_t stream) {
  forward_impl(x, w, bias, out, s, device, stream);
}
void backward(const float* x, const float* w, const float* grad_out, float* grad_x, float* grad_w,
              float* grad_b, const MaskedConvShape& s, int device, std::uintptr_t stream) {
  backward_impl(x, w, grad_out, grad_x, grad_w, grad_b, s, device, stream);
}
void backward(const double* x, const double* w, const double* grad_out, double* grad_x,
              double* grad_w, double* grad_b, const MaskedConvShape& s, int device,
              std::uintptr_t stream) {
  backward_impl(x, w, grad_out, grad_x, grad_w, grad_b, s, device, stream);
}
void sample(const std::vector<LayerView<float>>& layers, const float* uniforms, float* pixels,
            float* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop, int device, std::uintptr_t stream) {
  sample_impl(layers, uniforms, pixels, image, B, H, W, levels, start, stop, device, stream);
}
void sample(const std::vector<LayerView<double>>& layers, const double* uniforms, double* pixels,
            double* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop, int device, std::uintptr_t stream) {
  sample_impl(layers, uniforms, pixels, image, B, H, W, levels, start, stop, device, stream);
}

}  // namespace pyfast::masked_conv_cuda
