// Winograd F(2x2, 3x3) convolution for frozen 3x3 stride-1 pad-1 layers (CPU, float32).
//
// Each 2x2 block of outputs ("tile") reads a 4x4 input patch d. With the
// transformed weight U = G g G^T (16 values per (Cout, Cin)) and the transformed
// patch V = B^T d B, the 16 elementwise products summed over Cin give
// M[xi] = sum_ci U[xi][co][ci] V[xi][ci][tile], and the output is Y = A^T M A.
// The sums over Cin are 16 independent GEMMs (Cout x Cin) @ (Cin x tiles): 2.25x
// fewer multiply-adds than direct convolution.
//
// The weight is transformed once (frozen layers) into the packed layout the
// GEMM micro-kernel reads: (16, ceil(Cout / kWinogradRows), Cin, kWinogradRows),
// rows past Cout zero. CUDA tensors are not handled here (pyfast uses torch's
// convolution on the GPU).
#pragma once
#include <cstdint>

#include "../common/isa.h"
#include "../common/tensor.h"

namespace pyfast {

// Output channels per packed weight panel (the micro-kernel's broadcast rows).
constexpr int64_t kWinogradRows = 8;

// weight: (Cout, Cin, 3, 3); packed: (16, ceil(Cout / 8), Cin, 8), overwritten.
void winograd_transform_weight(const TensorArg& weight, const TensorArg& packed);
// x: (N, Cin, H, W); packed: from winograd_transform_weight; bias: (Cout,) or null;
// out: (N, Cout, H, W), overwritten with conv2d(x, weight, bias, padding=1).
void winograd_conv3x3(const TensorArg& x, const TensorArg& packed, const TensorArg* bias,
                      const TensorArg& out);

namespace winograd_cpu {
#define PYFAST_WINOGRAD_CPU_DECLARE(ns)                                                       \
  namespace ns {                                                                              \
  void conv3x3(const float* x, const float* packed, const float* bias, float* out, int64_t N, \
               int64_t Cin, int64_t Cout, int64_t H, int64_t W);                              \
  }
PYFAST_FOR_EACH_ISA(PYFAST_WINOGRAD_CPU_DECLARE)
#undef PYFAST_WINOGRAD_CPU_DECLARE
}  // namespace winograd_cpu

}  // namespace pyfast
