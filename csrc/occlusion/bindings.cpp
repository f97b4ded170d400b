// Python bindings of the occlusion kernels (see bindings.h).
#include <cstdint>
#include <optional>

#include "../bindings.h"
#include "occlusion.h"

namespace py = pybind11;

namespace pyfast {

void register_occlusion(py::module_& m) {
  m.def(
      "occlusion_fill",
      [](py::object x, py::object out, int64_t window_h, int64_t window_w, int64_t stride_h,
         int64_t stride_w, int64_t rows, int64_t cols, int64_t first, py::object baseline,
         double baseline_value, std::uintptr_t stream) {
        auto xa = tensor_arg(x, "x", 3);
        auto oa = tensor_arg(out, "out", 4);
        std::optional<TensorArg> ba;
        if (!baseline.is_none()) ba = tensor_arg(baseline, "baseline", 3);
        const OcclusionGrid grid{window_h, window_w, stride_h, stride_w, rows, cols};
        py::gil_scoped_release release;
        pyfast::occlusion_fill(xa, ba ? &*ba : nullptr, baseline_value, oa, grid, first, stream);
      },
      py::arg("x"), py::arg("out"), py::arg("window_h"), py::arg("window_w"), py::arg("stride_h"),
      py::arg("stride_w"), py::arg("rows"), py::arg("cols"), py::arg("first") = 0,
      py::arg("baseline") = py::none(), py::arg("baseline_value") = 0.0, py::arg("stream") = 0,
      "out (P, C, H, W) = x (C, H, W) with window first + p of the rows x cols grid replaced by "
      "baseline (C, H, W) or, without one, by baseline_value.");
  m.def(
      "occlusion_heatmap",
      [](py::object drops, py::object out, int64_t window_h, int64_t window_w, int64_t stride_h,
         int64_t stride_w, int64_t rows, int64_t cols, std::uintptr_t stream) {
        auto da = tensor_arg(drops, "drops", 2);
        auto oa = tensor_arg(out, "out", 3);
        const OcclusionGrid grid{window_h, window_w, stride_h, stride_w, rows, cols};
        py::gil_scoped_release release;
        pyfast::occlusion_heatmap(da, oa, grid, stream);
      },
      py::arg("drops"), py::arg("out"), py::arg("window_h"), py::arg("window_w"),
      py::arg("stride_h"), py::arg("stride_w"), py::arg("rows"), py::arg("cols"),
      py::arg("stream") = 0,
      "out (N, H, W) = per pixel, the mean of drops (N, rows * cols) over the windows covering "
      "it.");
}

}  // namespace pyfast
