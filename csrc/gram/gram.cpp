#include "gram.h"

#include <stdexcept>

namespace pyfast {
void gram_forward(const TensorArg& x, const TensorArg& out, double scale, std::uintptr_t stream) {
  check_same_dtype_device(x, out);
  const int64_t B = x.size(0), C = x.size(1), N = x.size(2) * x.size(3);
  check_not_empty(x);
  check_shape(out, {B, C, C});
  check_device_compiled(x);
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      gram_cuda::forward(x.ptr<float>(), out.ptr<float>(), B, C, N, float(scale), x.device_index,
                         stream);
    else
      gram_cuda::forward(x.ptr<double>(), out.ptr<double>(), B, C, N, scale, x.device_index,
                         stream);
#endif
    return;
  }
  using namespace gram_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(forward, x.ptr<float>(), out.ptr<float>(), B, C, N, float(scale));
  else
    PYFAST_ISA_DISPATCH(forward, x.ptr<double>(), out.ptr<double>(), B, C, N, scale);
}

void gram_backward(const TensorArg& x, const TensorArg& grad_out, const TensorArg& grad_x,
                   double scale, std::uintptr_t stream) {
  check_same_dtype_device(x, grad_out);
  check_same_dtype_device(x, grad_x);
  const int64_t B = x.size(0), C = x.size(1), N = x.size(2) * x.size(3);
  check_not_empty(x);
  check_shape(grad_out, {B, C, C});
  check_shape(grad_x, x.shape);
  check_device_compiled(x);
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      gram_cuda::backward(x.ptr<float>(), grad_out.ptr<float>(), grad_x.ptr<float>(), B, C, N,
                          float(scale), x.device_index, stream);
    else
      gram_cuda::backward(x.ptr<double>(), grad_out.ptr<double>(), grad_x.ptr<double>(), B, C, N,
                          scale, x.device_index, stream);
#endif
    return;
  }
  using namespace gram_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(backward, x.ptr<float>(), grad_out.ptr<float>(), grad_x.ptr<float>(), B, C,
                        N, float(scale));
  else
    PYFAST_ISA_DISPATCH(backward, x.ptr<double>(), grad_out.ptr<double>(), grad_x.ptr<double>(), B,
                        C, N, scale);
}

}  // namespace pyfast
