// Masked (causal) convolution of PixelCNN and its cached raster-order sampler.
//
// A k x k masked convolution (k odd, stride 1, zero padding k/2) keeps the taps
// strictly before the window's centre in raster order (mask A) or up to and
// including it (mask B). Those taps are a prefix of the window in raster order,
// so tap t < taps() sits at (dy, dx) = (t / k, t % k). The kernels compute only
// the kept taps — about half the multiply-adds of a dense convolution.
//
// CPU formulation (cpu.cpp): implicit GEMM. Each pass copies one image at a time,
// channels-last, onto a zero-padded grid of width Wp = W + 2c (c = k/2), so tap t of
// every channel sits at a constant shift; only image pixels are computed, by an
// 8-pixel x 32-output-channel register kernel. Grad-weight accumulates per thread
// (float64) over its images and sums the copies at the end; no atomics.
//   forward:      out[co, n]   = sum_{t, ci} W[co, ci, t] * xp[ci, n + dy*Wp + dx]
//   grad input:   gx[ci, n]    = sum_{t, co} W[co, ci, t] * gp[co, n + (c-dy)*Wp + 2c-dx]
//                 (gp: grad_out padded with c zero columns each side, c zero rows below)
//   grad weight:  gW[co, ci, t] = sum_{b, n} gp[co, n + c] * xp[ci, n + dy*Wp + dx]
#pragma once
#include <cstdint>
#include <vector>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

struct MaskedConvShape {
  int64_t batch = 0, in_channels = 0, out_channels = 0, height = 0, width = 0, kernel = 0;
  bool mask_b = false;  // false: mask A (centre excluded), true: mask B (centre kept)

  int64_t half() const { return kernel / 2; }
  // Kept taps: the c full rows above the centre, the c taps left of it, (+ the centre).
  int64_t taps() const { return half() * kernel + half() + (mask_b ? 1 : 0); }
};

// x: (B, Cin, H, W); weight: (Cout, Cin, k, k); bias: (Cout,) or null; out: (B, Cout, H, W).
void masked_conv_forward(const TensorArg& x, const TensorArg& weight, const TensorArg* bias,
                         const TensorArg& out, bool mask_b, std::uintptr_t stream);
// Gradients of the forward above; each of grad_x, grad_weight, grad_bias may be null (not
// needed) and is overwritten otherwise.
void masked_conv_backward(const TensorArg& x, const TensorArg& weight, const TensorArg& grad_out,
                          const TensorArg* grad_x, const TensorArg* grad_weight,
                          const TensorArg* grad_bias, bool mask_b, std::uintptr_t stream);

// One layer of a PixelCNN as the cached sampler runs it:
//   buffers[out][p] = bias + conv_{mask}(act(buffers[in]))[p] (+ buffers[residual][p])
// with act = ReLU if relu_input, else the identity.
struct SamplerLayer {
  TensorArg weight;  // (Cout, Cin, k, k), k odd; a 1x1 convolution is mask B with k = 1
  TensorArg bias;    // (Cout,)
  bool mask_b = true;
  bool relu_input = false;
  int in = 0, out = 0, residual = -1;  // buffer indices; residual < 0: none
};

// Runs positions [start, stop) of the raster loop of a PixelCNN sampler. Buffer b
// is the activation cache of one layer output, (H*W, B, C_b) (position-major so that
// a position's values for the batch are contiguous); buffer 0 holds the network's
// input image, pixel level / (levels - 1). At each position every layer is
// computed there only (its inputs at that position and before are final), then
// the pixel is drawn from the last layer's logits at that position by inverting
// the CDF at uniforms[b, p]: levels == 2 -> one logit, pixel = (u < sigmoid(logit));
// else softmax over `levels` logits, pixel = #{k < levels-1 : cdf[k] <= u}.
// pixels (B, H*W) receives the levels as floating-point numbers.
struct SamplerArgs {
  std::vector<SamplerLayer> layers;
  std::vector<TensorArg> buffers;
  TensorArg uniforms;  // (B, H*W)
  TensorArg pixels;    // (B, H*W)
  int64_t height = 0, width = 0, levels = 2, start = 0, stop = 0;
};
void pixelcnn_sample(const SamplerArgs& args, std::uintptr_t stream);

// Raw layer description handed to the device kernels (pointers of one dtype).
template <typename T>
struct LayerView {
  const T* weight;
  const T* bias;
  T* out;
  const T* in;
  const T* residual;  // null: none
  int64_t cin, cout, kernel;
  bool mask_b, relu_input;
};

namespace masked_conv_cpu {
#define PYFAST_MASKED_CONV_CPU_DECLARE(ns)                                                        \
  namespace ns {                                                                                  \
  void forward(const float* x, const float* w, const float* bias, float* out,                     \
               const MaskedConvShape& s);                                                         \
  void forward(const double* x, const double* w, const double* bias, double* out,                 \
               const MaskedConvShape& s);                                                         \
  void backward(const float* x, const float* w, const float* grad_out, float* grad_x,             \
                float* grad_w, float* grad_b, const MaskedConvShape& s);                          \
  void backward(const double* x, const double* w, const double* grad_out, double* grad_x,         \
                double* grad_w, double* grad_b, const MaskedConvShape& s);                        \
  void sample(const std::vector<LayerView<float>>& layers, const float* uniforms, float* pixels,  \
              float* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,       \
              int64_t stop);                                                                      \
  void sample(const std::vector<LayerView<double>>& layers, const double* uniforms,               \
              double* pixels, double* image, int64_t B, int64_t H, int64_t W, int64_t levels,     \
              int64_t start, int64_t stop);                                                       \
  }
PYFAST_FOR_EACH_ISA(PYFAST_MASKED_CONV_CPU_DECLARE)
#undef PYFAST_MASKED_CONV_CPU_DECLARE
}  // namespace masked_conv_cpu

#if defined(PYFAST_WITH_CUDA)
namespace masked_conv_cuda {
void forward(const float* x, const float* w, const float* bias, float* out,
             const MaskedConvShape& s, int device, std::uintptr_t stream);
void forward(const double* x, const double* w, const double* bias, double* out,
             const MaskedConvShape& s, int device, std::uintptr_t stream);
void backward(const float* x, const float* w, const float* grad_out, float* grad_x, float* grad_w,
              float* grad_b, const MaskedConvShape& s, int device, std::uintptr_t stream);
void backward(const double* x, const double* w, const double* grad_out, double* grad_x,
              double* grad_w, double* grad_b, const MaskedConvShape& s, int device,
              std::uintptr_t stream);
void sample(const std::vector<LayerView<float>>& layers, const float* uniforms, float* pixels,
            float* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop, int device, std::uintptr_t stream);
void sample(const std::vector<LayerView<double>>& layers, const double* uniforms, double* pixels,
            double* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop, int device, std::uintptr_t stream);
}  // namespace masked_conv_cuda
#endif

}  // namespace pyfast
