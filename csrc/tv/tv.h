// Total variation of images: for each plane (b, c) of x (B, C, H, W),
//   sum_{i,j} phi(dx^2 + dy^2),  dx = x[i, j+1] - x[i, j],  dy = x[i+1, j] - x[i, j],
// a difference past the last row/column counting as 0, with
//   phi(s) = s                       for beta == 2 (cs231n / Johnson et al.),
//   phi(s) = (s + eps)^(beta / 2)    otherwise (Mahendran & Vedaldi's R_{V^beta};
//                                    eps keeps the gradient finite at s = 0).
// One fused pass forward (per-image sums), one fused pass backward.
#pragma once
#include <cstdint>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

// Penalty parameters shared by every TV kernel.
struct TvParams {
  double beta = 2.0;
  double eps = 1e-8;  // ignored for beta == 2
};

// x: (B, C, H, W); out: (B,) receives each image's sum over channels and pixels.
void tv_forward(const TensorArg& x, const TensorArg& out, TvParams params, std::uintptr_t stream);
// x: (B, C, H, W); grad_out: (B,) weight of each image's sum; grad_x (B, C, H, W) is overwritten.
void tv_backward(const TensorArg& x, const TensorArg& grad_out, const TensorArg& grad_x,
                 TvParams params, std::uintptr_t stream);

namespace tv_cpu {
#define PYFAST_TV_CPU_DECLARE(ns)                                                              \
  namespace ns {                                                                               \
  void forward(const float* x, float* out, int64_t B, int64_t C, int64_t H, int64_t W,         \
               TvParams p);                                                                    \
  void forward(const double* x, double* out, int64_t B, int64_t C, int64_t H, int64_t W,       \
               TvParams p);                                                                    \
  void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C,    \
                int64_t H, int64_t W, TvParams p);                                             \
  void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C, \
                int64_t H, int64_t W, TvParams p);                                             \
  }
PYFAST_FOR_EACH_ISA(PYFAST_TV_CPU_DECLARE)
#undef PYFAST_TV_CPU_DECLARE
}  // namespace tv_cpu

#if defined(PYFAST_WITH_CUDA)
namespace tv_cuda {
void forward(const float* x, float* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p,
             int device, std::uintptr_t stream);
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p,
             int device, std::uintptr_t stream);
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t H,
              int64_t W, TvParams p, int device, std::uintptr_t stream);
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t H, int64_t W, TvParams p, int device, std::uintptr_t stream);
}  // namespace tv_cuda
#endif

}  // namespace pyfast
