// Blocked-layout norm/pad kernels. Compiled once per ISA into pyfast::nchwc_cpu::PYFAST_ISA_NS.
//
// norm_pad: the statistics pass splits each (n, channel block) plane into chunks of
// pixels, sums x and x^2 per channel lane in float64 (deterministic: chunks are added
// in order), and turns them into one scale and shift per channel. The write pass runs
// over output rows; each output pixel reads its source pixel's B channels (one vector
// for B = 8 / 16), so upsampling and reflection are index maps, not extra passes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "nchwc.h"

namespace pyfast::nchwc_cpu::PYFAST_ISA_NS {
namespace {

constexpr int64_t kChunkPixels = 8192;
// Fewest floats a thread is started for: below this, starting it costs more than it saves.
constexpr int64_t kMinFloatsPerThread = 1 << 18;

// Source index, before upsampling, of index i of the padded, upsampled axis.
inline int64_t source_index(int64_t i, int64_t before, int64_t upsampled, int64_t up) {
  int64_t t = i - before;
  if (t < 0)
    t = -t;
  else if (t >= upsampled)
    t = 2 * (upsampled - 1) - t;
  return t / up;
}

// scale/shift (planes, B): per-channel instance norm as v = scale * y + shift.
template <int kB>
void coefficients(const float* y, const float* gamma, const float* beta, int64_t planes, int64_t Cb,
                  int64_t runtime_b, int64_t pixels, float eps, int threads, float* scale,
                  float* shift) {
  const int64_t b = kB > 0 ? kB : runtime_b;
  const int64_t chunks = ceil_div(pixels, kChunkPixels);
  std::vector<double> partial(static_cast<size_t>(planes * chunks * 2 * b));
  parallel_ranges_joined(
      planes * chunks,
      [&](int64_t first, int64_t last) {
        for (int64_t item = first; item < last; ++item) {
          const int64_t plane = item / chunks, chunk = item % chunks;
          const int64_t begin = chunk * kChunkPixels, end = std::min(pixels, begin + kChunkPixels);
          const float* p = y + (plane * pixels + begin) * b;
          double sum[kB > 0 ? kB : kMaxNchwcBlock] = {}, squares[kB > 0 ? kB : kMaxNchwcBlock] = {};
          for (int64_t q = 0; q < end - begin; ++q)
            for (int64_t k = 0; k < b; ++k) {
              const double v = p[q * b + k];
              sum[k] += v;
              squares[k] += v * v;
            }
          double* out = partial.data() + item * 2 * b;
          for (int64_t k = 0; k < b; ++k) {
            out[k] = sum[k];
            out[b + k] = squares[k];
          }
        }
      },
      threads, ceil_div(kMinFloatsPerThread, std::min(pixels, kChunkPixels) * b));
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t cb = plane % Cb;
    for (int64_t k = 0; k < b; ++k) {
      double sum = 0, squares = 0;
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        sum += partial[((plane * chunks + chunk) * 2) * b + k];
        squares += partial[((plane * chunks + chunk) * 2 + 1) * b + k];
      }
      const double mean = sum / double(pixels);
      const double var = std::max(squares / double(pixels) - mean * mean, 0.0);
      const double a = double(gamma[cb * b + k]) / std::sqrt(var + double(eps));
      scale[plane * b + k] = float(a);
      shift[plane * b + k] = float(double(beta[cb * b + k]) - mean * a);
    }
  }
}

template <int kB, bool kNorm, bool kRelu, bool kResidual>
void write_padded(const float* y, const float* scale, const float* shift, const float* residual,
                  float* out, int64_t planes, int64_t runtime_b, int64_t H, int64_t W, int64_t r,
                  int64_t up, Pads pads, int threads) {
  const int64_t b = kB > 0 ? kB : runtime_b;
  const int64_t Ho = up * H + pads.top + pads.bottom, Wo = up * W + pads.left + pads.right;
  const int64_t Hr = H + 2 * r, Wr = W + 2 * r;
  std::vector<int64_t> column(static_cast<size_t>(Wo));
  for (int64_t j = 0; j < Wo; ++j) column[j] = source_index(j, pads.left, up * W, up) * b;
  parallel_ranges_joined(
      planes * Ho,
      [&](int64_t first, int64_t last) {
        for (int64_t item = first; item < last; ++item) {
          const int64_t plane = item / Ho, i = item % Ho;
          const int64_t s = source_index(i, pads.top, up * H, up);
          const float* src = y + (plane * H + s) * W * b;
          const float* res = kResidual ? residual + ((plane * Hr + s + r) * Wr + r) * b : nullptr;
          const float* a = kNorm ? scale + plane * b : nullptr;
          const float* c = kNorm ? shift + plane * b : nullptr;
          float* dst = out + item * Wo * b;
          for (int64_t j = 0; j < Wo; ++j) {
            const int64_t from = column[j];
            for (int64_t k = 0; k < b; ++k) {
              float v = src[from + k];
              if (kNorm) v = v * a[k] + c[k];
              if (kRelu) v = std::max(v, 0.0f);
              if (kResidual) v += res[from + k];
              dst[j * b + k] = v;
            }
          }
        }
      },
      threads, ceil_div(kMinFloatsPerThread, Wo * b));
}

template <int kB>
void norm_pad_block(const float* y, const float* gamma, const float* beta, const float* residual,
                    float* out, int64_t N, int64_t Cb, int64_t b, int64_t H, int64_t W, int64_t r,
                    NormParams p, int64_t up, Pads pads) {
  const int64_t planes = N * Cb;
  if (!p.normalize) {
    write_padded<kB, false, false, false>(y, nullptr, nullptr, nullptr, out, planes, b, H, W, 0, up,
                                          pads, p.threads);
    return;
  }
  std::vector<float> scale(static_cast<size_t>(planes * b)), shift(scale.size());
  coefficients<kB>(y, gamma, beta, planes, Cb, b, H * W, p.eps, p.threads, scale.data(),
                   shift.data());
  const float *a = scale.data(), *c = shift.data();
  if (p.relu && residual)
    write_padded<kB, true, true, true>(y, a, c, residual, out, planes, b, H, W, r, up, pads,
                                       p.threads);
  else if (p.relu)
    write_padded<kB, true, true, false>(y, a, c, nullptr, out, planes, b, H, W, 0, up, pads,
                                        p.threads);
  else if (residual)
    write_padded<kB, true, false, true>(y, a, c, residual, out, planes, b, H, W, r, up, pads,
                                        p.threads);
  else
    write_padded<kB, true, false, false>(y, a, c, nullptr, out, planes, b, H, W, 0, up, pads,
                                         p.threads);
}

}  // namespace

void norm_pad(const float* y, const float* gamma, const float* beta, const float* residual,
              float* out, int64_t N, int64_t Cb, int64_t B, int64_t H, int64_t W, int64_t r,
              NormParams params, int64_t upsample, Pads pads) {
  switch (B) {
    case 16:
      return norm_pad_block<16>(y, gamma, beta, residual, out, N, Cb, B, H, W, r, params, upsample,
                                pads);
    case 8:
      return norm_pad_block<8>(y, gamma, beta, residual, out, N, Cb, B, H, W, r, params, upsample,
                               pads);
    case 1:
      return norm_pad_block<1>(y, gamma, beta, residual, out, N, Cb, B, H, W, r, params, upsample,
                               pads);
    default:
      return norm_pad_block<0>(y, gamma, beta, residual, out, N, Cb, B, H, W, r, params, upsample,
                               pads);
  }
}

void depth_to_space_crop(const float* y, float* out, int64_t N, int64_t Cb, int64_t B, int64_t h,
                         int64_t w, int64_t C, int64_t H, int64_t W, int64_t s, int threads) {
  parallel_ranges_joined(
      N * C * H,
      [&](int64_t first, int64_t last) {
        for (int64_t item = first; item < last; ++item) {
          const int64_t n = item / (C * H), c = (item / H) % C, i = item % H;
          float* dst = out + item * W;
          for (int64_t j = 0; j < W; ++j) {
            const int64_t channel = (c * s + i % s) * s + j % s;
            dst[j] = y[(((n * Cb + channel / B) * h + i / s) * w + j / s) * B + channel % B];
          }
        }
      },
      threads, ceil_div(kMinFloatsPerThread, W));
}

}  // namespace pyfast::nchwc_cpu::PYFAST_ISA_NS
