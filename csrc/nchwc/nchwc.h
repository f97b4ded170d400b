// Memory-bound layers of a style network in ONNX Runtime's blocked layout (CPU, float32).
//
// ONNX Runtime's CPU convolutions (MLAS) keep activations as NCHWc: (N, C/B, H, W, B),
// B channels (8 with AVX2, 16 with AVX-512) contiguous per pixel. Between two such
// convolutions, TransformerNet applies instance norm, ReLU, a residual add, nearest
// upsampling and reflection padding; run as separate ONNX operators these cost a
// layout change each way plus one full pass per operator over the activations.
// norm_pad does all of them in two passes: one reading the convolution's output for
// the per-channel statistics, one writing the next convolution's padded input.
//
// Shapes are 5-D blocked views (N, Cb, H, W, B); a plain NCHW tensor is B = 1.
#pragma once
#include <cstdint>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

// Widest channel block the kernels take (ONNX Runtime uses 8 or 16).
constexpr int64_t kMaxNchwcBlock = 64;

// Reflection padding in the upsampled frame: rows top/bottom, columns left/right.
struct Pads {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// What norm_pad computes at each source pixel before upsampling and padding:
//   v = y                                   (normalize == false)
//   v = relu?(gamma * (y - mean) / sqrt(var + eps) + beta) + residual?   (normalize == true)
// with mean and biased var over each (n, channel) plane of y.
struct NormParams {
  bool normalize = false;
  bool relu = false;
  float eps = 1e-5f;
  int threads = 0;  // <= 0: pyfast's thread count
};

// y: (N, Cb, H, W, B); gamma, beta: (Cb * B,) (used when normalize); residual: null or
// (N, Cb, H + 2r, W + 2r, B), its interior added (r >= 0, from the shapes); out:
// (N, Cb, upsample * H + top + bottom, upsample * W + left + right, B), overwritten with
// v upsampled by nearest neighbour and reflection-padded (each pad < the upsampled size).
void norm_pad(const TensorArg& y, const TensorArg* gamma, const TensorArg* beta,
              const TensorArg* residual, const TensorArg& out, NormParams params, int64_t upsample,
              Pads pads);

// y: (N, Cb, h, w, B) holding at least C * s * s channels in depth-to-space "CRD" order;
// out: (N, C, H, W, 1) with H <= s * h, W <= s * w, overwritten with
//   out[n, c, i, j] = y channel c * s * s + (i % s) * s + (j % s) at (i / s, j / s).
void depth_to_space_crop(const TensorArg& y, const TensorArg& out, int64_t s, int threads);

namespace nchwc_cpu {
#define PYFAST_NCHWC_CPU_DECLARE(ns)                                                           \
  namespace ns {                                                                               \
  void norm_pad(const float* y, const float* gamma, const float* beta, const float* residual,  \
                float* out, int64_t N, int64_t Cb, int64_t B, int64_t H, int64_t W, int64_t r, \
                NormParams params, int64_t upsample, Pads pads);                               \
  void depth_to_space_crop(const float* y, float* out, int64_t N, int64_t Cb, int64_t B,       \
                           int64_t h, int64_t w, int64_t C, int64_t H, int64_t W, int64_t s,   \
                           int threads);                                                       \
  }
PYFAST_FOR_EACH_ISA(PYFAST_NCHWC_CPU_DECLARE)
#undef PYFAST_NCHWC_CPU_DECLARE
}  // namespace nchwc_cpu

}  // namespace pyfast
