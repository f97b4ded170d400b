#include "masked_conv.h"

#include <stdexcept>
#include <string>

namespace pyfast {
namespace {

MaskedConvShape conv_shape(const TensorArg& x, const TensorArg& weight, bool mask_b) {
  check_same_dtype_device(x, weight);
  check_not_empty(x);
  check_not_empty(weight);
  MaskedConvShape s;
  s.batch = x.size(0);
  s.in_channels = x.size(1);
  s.height = x.size(2);
  s.width = x.size(3);
  s.out_channels = weight.size(0);
  s.kernel = weight.size(2);
  s.mask_b = mask_b;
  if (weight.size(3) != s.kernel || s.kernel % 2 == 0)
    throw std::invalid_argument(weight.name + " must have an odd square kernel (Cout, Cin, k, k), got " +
                                weight.shape_str());
  if (weight.size(1) != s.in_channels)
    throw std::invalid_argument(weight.name + " must have " + std::to_string(s.in_channels) +
                                " input channels (those of " + x.name + "), got shape " +
                                weight.shape_str());
  check_device_compiled(x);
  return s;
}

template <typename T>
const T* optional_ptr(const TensorArg* t) {
  return t ? t->ptr<T>() : nullptr;
}
template <typename T>
T* optional_mut(const TensorArg* t) {
  return t ? t->ptr<T>() : nullptr;
}

}  // namespace

void masked_conv_forward(const TensorArg& x, const TensorArg& weight, const TensorArg* bias,
                         const TensorArg& out, bool mask_b, std::uintptr_t stream) {
  const MaskedConvShape s = conv_shape(x, weight, mask_b);
  if (bias) {
    check_same_dtype_device(x, *bias);
    check_shape(*bias, {s.out_channels});
  }
  check_same_dtype_device(x, out);
  check_shape(out, {s.batch, s.out_channels, s.height, s.width});
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      masked_conv_cuda::forward(x.ptr<float>(), weight.ptr<float>(), optional_ptr<float>(bias),
                                out.ptr<float>(), s, x.device_index, stream);
    else
      masked_conv_cuda::forward(x.ptr<double>(), weight.ptr<double>(), optional_ptr<double>(bias),
                                out.ptr<double>(), s, x.device_index, stream);
#endif
    return;
  }
  using namespace masked_conv_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(forward, x.ptr<float>(), weight.ptr<float>(), optional_ptr<float>(bias),
                        out.ptr<float>(), s);
  else
    PYFAST_ISA_DISPATCH(forward, x.ptr<double>(), weight.ptr<double>(), optional_ptr<double>(bias),
                        out.ptr<double>(), s);
}

void masked_conv_backward(const TensorArg& x, const TensorArg& weight, const TensorArg& grad_out,
                          const TensorArg* grad_x, const TensorArg* grad_weight,
                          const TensorArg* grad_bias, bool mask_b, std::uintptr_t stream) {
  const MaskedConvShape s = conv_shape(x, weight, mask_b);
  check_same_dtype_device(x, grad_out);
  check_shape(grad_out, {s.batch, s.out_channels, s.height, s.width});
  if (grad_x) {
    check_same_dtype_device(x, *grad_x);
    check_shape(*grad_x, x.shape);
  }
  if (grad_weight) {
    check_same_dtype_device(x, *grad_weight);
    check_shape(*grad_weight, weight.shape);
  }
  if (grad_bias) {
    check_same_dtype_device(x, *grad_bias);
    check_shape(*grad_bias, {s.out_channels});
  }
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      masked_conv_cuda::backward(x.ptr<float>(), weight.ptr<float>(), grad_out.ptr<float>(),
                                 optional_mut<float>(grad_x), optional_mut<float>(grad_weight),
                                 optional_mut<float>(grad_bias), s, x.device_index, stream);
    else
      masked_conv_cuda::backward(x.ptr<double>(), weight.ptr<double>(), grad_out.ptr<double>(),
                                 optional_mut<double>(grad_x), optional_mut<double>(grad_weight),
                                 optional_mut<double>(grad_bias), s, x.device_index, stream);
#endif
    return;
  }
  using namespace masked_conv_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(backward, x.ptr<float>(), weight.ptr<float>(), grad_out.ptr<float>(),
                        optional_mut<float>(grad_x), optional_mut<float>(grad_weight),
                        optional_mut<float>(grad_bias), s);
  else
    PYFAST_ISA_DISPATCH(backward, x.ptr<double>(), weight.ptr<double>(), grad_out.ptr<double>(),
                        optional_mut<double>(grad_x), optional_mut<double>(grad_weight),
                        optional_mut<double>(grad_bias), s);
}

namespace {

template <typename T>
std::vector<LayerView<T>> layer_views(const SamplerArgs& a) {
  std::vector<LayerView<T>> views;
  for (const SamplerLayer& L : a.layers) {
    LayerView<T> v;
    v.weight = L.weight.ptr<T>();
    v.bias = L.bias.ptr<T>();
    v.in = a.buffers[L.in].ptr<T>();
    v.out = a.buffers[L.out].ptr<T>();
    v.residual = L.residual >= 0 ? a.buffers[L.residual].ptr<T>() : nullptr;
    v.cin = L.weight.size(1);
    v.cout = L.weight.size(0);
    v.kernel = L.weight.size(2);
    v.mask_b = L.mask_b;
    v.relu_input = L.relu_input;
    views.push_back(v);
  }
  return views;
}

void check_sampler(const SamplerArgs& a) {
  if (a.layers.empty()) throw std::invalid_argument("layers must not be empty");
  if (a.buffers.empty()) throw std::invalid_argument("buffers must not be empty");
  if (a.height <= 0 || a.width <= 0)
    throw std::invalid_argument("height and width must be positive");
  if (a.levels < 2) throw std::invalid_argument("levels must be >= 2, got " + std::to_string(a.levels));
  const int64_t P = a.height * a.width;
  if (a.start < 0 || a.stop > P || a.start > a.stop)
    throw std::invalid_argument("positions [start, stop) must lie within [0, H*W)");
  const TensorArg& ref = a.uniforms;
  const int64_t B = ref.size(0);
  check_shape(a.uniforms, {B, P});
  check_same_dtype_device(ref, a.pixels);
  check_shape(a.pixels, {B, P});
  const int n = static_cast<int>(a.buffers.size());
  for (const TensorArg& buf : a.buffers) {
    check_same_dtype_device(ref, buf);
    if (buf.shape.size() != 3 || buf.size(0) != P || buf.size(1) != B)
      throw std::invalid_argument(buf.name + " must have shape (H*W, B, C) = (" +
                                  std::to_string(P) + ", " + std::to_string(B) + ", C), got " +
                                  buf.shape_str());
  }
  if (a.buffers[0].size(2) != 1)
    throw std::invalid_argument("buffers[0] (the image) must have one channel, got " +
                                a.buffers[0].shape_str());
  for (const SamplerLayer& L : a.layers) {
    check_same_dtype_device(ref, L.weight);
    check_same_dtype_device(ref, L.bias);
    const int64_t cout = L.weight.size(0), cin = L.weight.size(1), k = L.weight.size(2);
    if (L.weight.size(3) != k || k % 2 == 0)
      throw std::invalid_argument(L.weight.name + " must have an odd square kernel, got " +
                                  L.weight.shape_str());
    check_shape(L.bias, {cout});
    if (L.in < 0 || L.in >= n || L.out <= 0 || L.out >= n || L.residual >= n ||
        L.out == L.in || L.out == L.residual)
      throw std::invalid_argument(L.weight.name + ": buffer indices out of range or aliased");
    if (a.buffers[L.in].size(2) != cin || a.buffers[L.out].size(2) != cout ||
        (L.residual >= 0 && a.buffers[L.residual].size(2) != cout))
      throw std::invalid_argument(L.weight.name + " does not match the channels of its buffers");
  }
  const int64_t head = a.layers.back().weight.size(0);
  if (head != (a.levels == 2 ? 1 : a.levels))
    throw std::invalid_argument("the last layer must output " +
                                std::to_string(a.levels == 2 ? 1 : a.levels) + " logits, got " +
                                std::to_string(head));
  check_device_compiled(ref);
}

}  // namespace

void pixelcnn_sample(const SamplerArgs& a, std::uintptr_t stream) {
  check_sampler(a);
  const int64_t B = a.uniforms.size(0);
  const TensorArg& u = a.uniforms;
  if (u.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (u.dtype == DType::kFloat32)
      masked_conv_cuda::sample(layer_views<float>(a), u.ptr<float>(), a.pixels.ptr<float>(),
                               a.buffers[0].ptr<float>(), B, a.height, a.width, a.levels, a.start,
                               a.stop, u.device_index, stream);
    else
      masked_conv_cuda::sample(layer_views<double>(a), u.ptr<double>(), a.pixels.ptr<double>(),
                               a.buffers[0].ptr<double>(), B, a.height, a.width, a.levels, a.start,
                               a.stop, u.device_index, stream);
#endif
    return;
  }
  using namespace masked_conv_cpu;
  if (u.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(sample, layer_views<float>(a), u.ptr<float>(), a.pixels.ptr<float>(),
                        a.buffers[0].ptr<float>(), B, a.height, a.width, a.levels, a.start, a.stop);
  else
    PYFAST_ISA_DISPATCH(sample, layer_views<double>(a), u.ptr<double>(), a.pixels.ptr<double>(),
                        a.buffers[0].ptr<double>(), B, a.height, a.width, a.levels, a.start,
                        a.stop);
}

}  // namespace pyfast
