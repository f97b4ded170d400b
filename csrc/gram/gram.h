// Gram matrix of feature maps: G[b] = F[b] F[b]^T * scale, F[b] = x[b].reshape(C, H*W).
//
// Forward computes one triangle of the symmetric result (half the FLOPs of a
// GEMM) and mirrors it; backward computes dX = (dG + dG^T) F * scale as a single
// GEMM, one pass over F.
#pragma once
#include <cstdint>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

// x: (B, C, H, W); out: (B, C, C); scale applied to every entry of G.
void gram_forward(const TensorArg& x, const TensorArg& out, double scale, std::uintptr_t stream);
// x: (B, C, H, W); grad_out: (B, C, C); grad_x: (B, C, H, W) is overwritten.
void gram_backward(const TensorArg& x, const TensorArg& grad_out, const TensorArg& grad_x,
                   double scale, std::uintptr_t stream);

namespace gram_cpu {
// Raw kernels over F viewed as (B, C, N), row-major. Defined in gram/cpu.cpp,
// compiled once per ISA.
#define PYFAST_GRAM_CPU_DECLARE(ns)                                                            \
  namespace ns {                                                                               \
  void forward(const float* x, float* out, int64_t B, int64_t C, int64_t N, float scale);      \
  void forward(const double* x, double* out, int64_t B, int64_t C, int64_t N, double scale);   \
  void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C,    \
                int64_t N, float scale);                                                       \
  void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C, \
                int64_t N, double scale);                                                      \
  }
PYFAST_FOR_EACH_ISA(PYFAST_GRAM_CPU_DECLARE)
#undef PYFAST_GRAM_CPU_DECLARE
}  // namespace gram_cpu

#if defined(PYFAST_WITH_CUDA)
namespace gram_cuda {
void forward(const float* x, float* out, int64_t B, int64_t C, int64_t N, float scale, int device,
             std::uintptr_t stream);
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t N, double scale,
             int device, std::uintptr_t stream);
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t N,
              float scale, int device, std::uintptr_t stream);
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t N, double scale, int device, std::uintptr_t stream);
}  // namespace gram_cuda
#endif

}  // namespace pyfast
