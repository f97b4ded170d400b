#include "nchwc.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace pyfast {
namespace {

// Bounds that keep every index product far from int64 overflow (sizes are < 2^40 elements).
constexpr int64_t kMaxUpsample = 64;
constexpr int64_t kMaxPad = 1 << 20;

void check_cpu_float(const TensorArg& t) {
  if (t.device != DeviceKind::kCPU || t.dtype != DType::kFloat32)
    throw std::invalid_argument(t.name + " must be a float32 CPU tensor, got " +
                                dtype_name(t.dtype) +
                                (t.device == DeviceKind::kCPU ? " on the CPU" : " on a GPU"));
}

}  // namespace

void norm_pad(const TensorArg& y, const TensorArg* gamma, const TensorArg* beta,
              const TensorArg* residual, const TensorArg& out, NormParams params, int64_t upsample,
              Pads pads) {
  check_cpu_float(y);
  check_cpu_float(out);
  check_not_empty(y);
  const int64_t N = y.size(0), Cb = y.size(1), H = y.size(2), W = y.size(3), B = y.size(4);
  if (B > kMaxNchwcBlock)
    throw std::invalid_argument("y: blocks of more than " + std::to_string(kMaxNchwcBlock) +
                                " channels are not supported, got " + y.shape_str());
  if (upsample < 1 || upsample > kMaxUpsample)
    throw std::invalid_argument("upsample must be in 1.." + std::to_string(kMaxUpsample) +
                                ", got " + std::to_string(upsample));
  if (std::max({pads.top, pads.bottom, pads.left, pads.right}) > kMaxPad)
    throw std::invalid_argument("pads must be at most " + std::to_string(kMaxPad));
  if (pads.top < 0 || pads.bottom < 0 || pads.left < 0 || pads.right < 0)
    throw std::invalid_argument("pads must be >= 0");
  if (std::max(pads.top, pads.bottom) >= upsample * H ||
      std::max(pads.left, pads.right) >= upsample * W)
    throw std::invalid_argument(
        "reflection padding must be smaller than the (upsampled) input, got pads (" +
        std::to_string(pads.top) + ", " + std::to_string(pads.bottom) + ", " +
        std::to_string(pads.left) + ", " + std::to_string(pads.right) + ") for " + y.shape_str());
  check_shape(out, {N, Cb, upsample * H + pads.top + pads.bottom,
                    upsample * W + pads.left + pads.right, B});
  if (!params.normalize && (gamma || beta || residual || params.relu))
    throw std::invalid_argument("gamma, beta, residual and relu need normalize");
  if (params.normalize) {
    if (!gamma || !beta) throw std::invalid_argument("normalize needs gamma and beta");
    if (!(params.eps > 0.0f) || !std::isfinite(params.eps))
      throw std::invalid_argument("eps must be a finite number > 0");
    check_cpu_float(*gamma);
    check_cpu_float(*beta);
    check_shape(*gamma, {Cb * B});
    check_shape(*beta, {Cb * B});
  }
  int64_t r = 0;
  if (residual) {
    check_cpu_float(*residual);
    r = (residual->shape.size() == 5 ? residual->size(2) - H : -1) / 2;
    if (r < 0)
      throw std::invalid_argument("residual must be (N, Cb, H + 2r, W + 2r, B) for y " +
                                  y.shape_str() + ", got " + residual->shape_str());
    check_shape(*residual, {N, Cb, H + 2 * r, W + 2 * r, B});
  }
  using namespace nchwc_cpu;
  PYFAST_ISA_DISPATCH(norm_pad, y.ptr<float>(), gamma ? gamma->ptr<float>() : nullptr,
                      beta ? beta->ptr<float>() : nullptr,
                      residual ? residual->ptr<float>() : nullptr, out.ptr<float>(), N, Cb, B, H, W,
                      r, params, upsample, pads);
}

void depth_to_space_crop(const TensorArg& y, const TensorArg& out, int64_t s, int threads) {
  check_cpu_float(y);
  check_cpu_float(out);
  check_not_empty(y);
  if (s < 1 || s > kMaxUpsample)
    throw std::invalid_argument("s must be in 1.." + std::to_string(kMaxUpsample) + ", got " +
                                std::to_string(s));
  const int64_t N = y.size(0), Cb = y.size(1), h = y.size(2), w = y.size(3), B = y.size(4);
  const int64_t C = out.size(1), H = out.size(2), W = out.size(3);
  if (out.size(0) != N || out.size(4) != 1 || H > s * h || W > s * w || C * s * s > Cb * B)
    throw std::invalid_argument(
        "out must be (N, C, H, W, 1) with H <= s*h, W <= s*w and C*s*s <= Cb*B for y " +
        y.shape_str() + ", got " + out.shape_str());
  using namespace nchwc_cpu;
  PYFAST_ISA_DISPATCH(depth_to_space_crop, y.ptr<float>(), out.ptr<float>(), N, Cb, B, h, w, C, H,
                      W, s, threads);
}

}  // namespace pyfast
