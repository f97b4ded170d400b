#include "tv.h"

#include <cmath>
#include <stdexcept>

namespace pyfast {
namespace {

void check_params(const TvParams& p) {
  if (!(p.beta >= 0.0) || !std::isfinite(p.beta))
    throw std::invalid_argument("beta must be a finite number >= 0, got " + std::to_string(p.beta));
  if (!(p.eps >= 0.0) || !std::isfinite(p.eps))
    throw std::invalid_argument("eps must be a finite number >= 0, got " + std::to_string(p.eps));
}

}  // namespace

void tv_forward(const TensorArg& x, const TensorArg& out, TvParams p, std::uintptr_t stream) {
  check_params(p);
  check_same_dtype_device(x, out);
  check_not_empty(x);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check_shape(out, {B});
  check_device_compiled(x);
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      tv_cuda::forward(x.ptr<float>(), out.ptr<float>(), B, C, H, W, p, x.device_index, stream);
    else
      tv_cuda::forward(x.ptr<double>(), out.ptr<double>(), B, C, H, W, p, x.device_index, stream);
#endif
    return;
  }
  (void)stream;
  using namespace tv_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(forward, x.ptr<float>(), out.ptr<float>(), B, C, H, W, p);
  else
    PYFAST_ISA_DISPATCH(forward, x.ptr<double>(), out.ptr<double>(), B, C, H, W, p);
}

void tv_backward(const TensorArg& x, const TensorArg& grad_out, const TensorArg& grad_x, TvParams p,
                 std::uintptr_t stream) {
  check_params(p);
  check_same_dtype_device(x, grad_out);
  check_same_dtype_device(x, grad_x);
  check_not_empty(x);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check_shape(grad_out, {B});
  check_shape(grad_x, x.shape);
  check_device_compiled(x);
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      tv_cuda::backward(x.ptr<float>(), grad_out.ptr<float>(), grad_x.ptr<float>(), B, C, H, W, p,
                        x.device_index, stream);
    else
      tv_cuda::backward(x.ptr<double>(), grad_out.ptr<double>(), grad_x.ptr<double>(), B, C, H, W,
                        p, x.device_index, stream);
#endif
    return;
  }
  (void)stream;
  using namespace tv_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(backward, x.ptr<float>(), grad_out.ptr<float>(), grad_x.ptr<float>(), B, C,
                        H, W, p);
  else
    PYFAST_ISA_DISPATCH(backward, x.ptr<double>(), grad_out.ptr<double>(), grad_x.ptr<double>(), B,
                        C, H, W, p);
}

}  // namespace pyfast
