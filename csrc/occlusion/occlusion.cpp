#include "occlusion.h"

#include <stdexcept>
#include <string>

namespace pyfast {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// The grid must fit an (H, W) image: windows no larger than the image, positive strides,
// and every window starting inside it.
void check_grid(const OcclusionGrid& g, int64_t H, int64_t W) {
  if (g.window_h < 1 || g.window_w < 1)
    throw std::invalid_argument("window must be >= 1, got (" + str(g.window_h) + ", " +
                                str(g.window_w) + ")");
  if (g.window_h > H || g.window_w > W)
    throw std::invalid_argument("window (" + str(g.window_h) + ", " + str(g.window_w) +
                                ") is larger than the image (" + str(H) + ", " + str(W) + ")");
  if (g.stride_h < 1 || g.stride_w < 1)
    throw std::invalid_argument("stride must be >= 1, got (" + str(g.stride_h) + ", " +
                                str(g.stride_w) + ")");
  if (g.rows < 1 || g.cols < 1)
    throw std::invalid_argument("the grid needs rows, cols >= 1, got (" + str(g.rows) + ", " +
                                str(g.cols) + ")");
  if ((g.rows - 1) * g.stride_h >= H || (g.cols - 1) * g.stride_w >= W)
    throw std::invalid_argument("the grid of (" + str(g.rows) + ", " + str(g.cols) +
                                ") windows with stride (" + str(g.stride_h) + ", " +
                                str(g.stride_w) + ") runs past the image (" + str(H) + ", " +
                                str(W) + ")");
}

}  // namespace

void occlusion_fill(const TensorArg& x, const TensorArg* baseline, double baseline_value,
                    const TensorArg& out, const OcclusionGrid& g, int64_t first,
                    std::uintptr_t stream) {
  check_same_dtype_device(x, out);
  check_not_empty(x);
  const int64_t C = x.size(0), H = x.size(1), W = x.size(2);
  if (out.shape.size() != 4 || out.size(1) != C || out.size(2) != H || out.size(3) != W)
    throw std::invalid_argument("out must have shape (P, " + str(C) + ", " + str(H) + ", " +
                                str(W) + "), got " + out.shape_str());
  if (baseline != nullptr) {
    check_same_dtype_device(x, *baseline);
    check_shape(*baseline, x.shape);
  }
  check_grid(g, H, W);
  const int64_t P = out.size(0);
  if (first < 0 || first + P > g.rows * g.cols)
    throw std::invalid_argument("windows [" + str(first) + ", " + str(first + P) +
                                ") are outside the grid's " + str(g.rows * g.cols));
  if (P == 0) return;
  check_device_compiled(x);
  if (x.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (x.dtype == DType::kFloat32)
      occlusion_cuda::fill(x.ptr<float>(), baseline ? baseline->ptr<float>() : nullptr,
                           static_cast<float>(baseline_value), out.ptr<float>(), P, C, H, W, g,
                           first, x.device_index, stream);
    else
      occlusion_cuda::fill(x.ptr<double>(), baseline ? baseline->ptr<double>() : nullptr,
                           baseline_value, out.ptr<double>(), P, C, H, W, g, first,
                           x.device_index, stream);
#endif
    return;
  }
  (void)stream;
  using namespace occlusion_cpu;
  if (x.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(fill, x.ptr<float>(), baseline ? baseline->ptr<float>() : nullptr,
                        static_cast<float>(baseline_value), out.ptr<float>(), P, C, H, W, g,
                        first);
  else
    PYFAST_ISA_DISPATCH(fill, x.ptr<double>(), baseline ? baseline->ptr<double>() : nullptr,
                        baseline_value, out.ptr<double>(), P, C, H, W, g, first);
}

void occlusion_heatmap(const TensorArg& drops, const TensorArg& out, const OcclusionGrid& g,
                       std::uintptr_t stream) {
  check_same_dtype_device(drops, out);
  check_not_empty(out);
  const int64_t N = out.size(0), H = out.size(1), W = out.size(2);
  check_grid(g, H, W);
  check_shape(drops, {N, g.rows * g.cols});
  check_device_compiled(out);
  if (out.device == DeviceKind::kCUDA) {
#if defined(PYFAST_WITH_CUDA)
    if (out.dtype == DType::kFloat32)
      occlusion_cuda::heatmap(drops.ptr<float>(), out.ptr<float>(), N, H, W, g, out.device_index,
                              stream);
    else
      occlusion_cuda::heatmap(drops.ptr<double>(), out.ptr<double>(), N, H, W, g,
                              out.device_index, stream);
#endif
    return;
  }
  (void)stream;
  using namespace occlusion_cpu;
  if (out.dtype == DType::kFloat32)
    PYFAST_ISA_DISPATCH(heatmap, drops.ptr<float>(), out.ptr<float>(), N, H, W, g);
  else
    PYFAST_ISA_DISPATCH(heatmap, drops.ptr<double>(), out.ptr<double>(), N, H, W, g);
}

}  // namespace pyfast
