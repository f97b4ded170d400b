#include "winograd.h"

#include <stdexcept>
#include <string>

#include "../common/parallel.h"

namespace pyfast {
namespace {

void check_cpu_float32(const TensorArg& t) {
  if (t.device != DeviceKind::kCPU)
    throw std::invalid_argument(t.name + " must be a CPU tensor (the Winograd kernel is CPU-only)");
  if (t.dtype != DType::kFloat32)
    throw std::invalid_argument(t.name + " must be float32, got " + dtype_name(t.dtype));
}

}  // namespace

void winograd_transform_weight(const TensorArg& weight, const TensorArg& packed) {
  check_cpu_float32(weight);
  check_cpu_float32(packed);
  check_not_empty(weight);
  const int64_t Cout = weight.size(0), Cin = weight.size(1);
  if (weight.size(2) != 3 || weight.size(3) != 3)
    throw std::invalid_argument("weight must be (Cout, Cin, 3, 3), got " + weight.shape_str());
  const int64_t panels = ceil_div(Cout, kWinogradRows);
  check_shape(packed, {16, panels, Cin, kWinogradRows});
  const float* g = weight.ptr<float>();
  float* u = packed.ptr<float>();
  // U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
  static const float G[4][3] = {
      {1.f, 0.f, 0.f}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0.f, 0.f, 1.f}};
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t ci = 0; ci < Cin; ++ci)
      for (int64_t r = 0; r < kWinogradRows; ++r) {
        const int64_t co = p * kWinogradRows + r;
        float tile[4][4] = {};
        if (co < Cout) {
          const float* k = g + (co * Cin + ci) * 9;
          float t[4][3];  // G g
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 3; ++j)
              t[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
              tile[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
        }
        for (int xi = 0; xi < 16; ++xi)
          u[((xi * panels + p) * Cin + ci) * kWinogradRows + r] = tile[xi / 4][xi % 4];
      }
}

void winograd_conv3x3(const TensorArg& x, const TensorArg& packed, const TensorArg* bias,
                      const TensorArg& out) {
  check_cpu_float32(x);
  check_cpu_float32(packed);
  check_cpu_float32(out);
  check_not_empty(x);
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cout = out.size(1);
  if (Cout == 0) throw std::invalid_argument("out must have at least one channel");
  check_shape(out, {N, Cout, H, W});
  check_shape(packed, {16, ceil_div(Cout, kWinogradRows), Cin, kWinogradRows});
  if (bias) {
    check_cpu_float32(*bias);
    check_shape(*bias, {Cout});
  }
  using namespace winograd_cpu;
  PYFAST_ISA_DISPATCH(conv3x3, x.ptr<float>(), packed.ptr<float>(),
                      bias ? bias->ptr<float>() : nullptr, out.ptr<float>(), N, Cin, Cout, H, W);
}

}  // namespace pyfast
