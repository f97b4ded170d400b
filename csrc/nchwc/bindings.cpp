// Python bindings of the blocked-layout norm/pad kernels (see bindings.h).
#include "../bindings.h"

#include <optional>

#include "nchwc.h"

namespace py = pybind11;

namespace pyfast {

void register_nchwc(py::module_& m) {
  m.def(
      "norm_pad",
      [](py::object y, py::object out, py::object gamma, py::object beta, py::object residual,
         bool relu, float eps, int64_t upsample, py::tuple pads, int threads) {
        if (pads.size() != 4)
          throw std::invalid_argument("pads must be (top, bottom, left, right)");
        auto ya = tensor_arg(y, "y", 5);
        auto oa = tensor_arg(out, "out", 5);
        std::optional<TensorArg> ga, ba, ra;
        if (!gamma.is_none()) ga = tensor_arg(gamma, "gamma", 1);
        if (!beta.is_none()) ba = tensor_arg(beta, "beta", 1);
        if (!residual.is_none()) ra = tensor_arg(residual, "residual", 5);
        NormParams params{ga.has_value(), relu, eps, threads};
        Pads p;
        try {
          p = {pads[0].cast<int64_t>(), pads[1].cast<int64_t>(), pads[2].cast<int64_t>(),
               pads[3].cast<int64_t>()};
        } catch (const py::cast_error&) {
          throw std::invalid_argument("pads must be four integers (top, bottom, left, right)");
        }
        py::gil_scoped_release release;
        pyfast::norm_pad(ya, ga ? &*ga : nullptr, ba ? &*ba : nullptr, ra ? &*ra : nullptr, oa,
                         params, upsample, p);
      },
      py::arg("y"), py::arg("out"), py::arg("gamma") = py::none(), py::arg("beta") = py::none(),
      py::arg("residual") = py::none(), py::arg("relu") = false, py::arg("eps") = 1e-5f,
      py::arg("upsample") = 1, py::arg("pads") = py::make_tuple(0, 0, 0, 0), py::arg("threads") = 0,
      "out (N, Cb, u*H+t+b, u*W+l+r, B) = reflection_pad(upsample(v)) of y (N, Cb, H, W, B), where "
      "v = relu?(instance_norm(y) * gamma + beta) + residual interior? (gamma given) or v = y; "
      "float32 CPU; threads <= 0: pyfast's thread count.");
  m.def(
      "depth_to_space_crop",
      [](py::object y, py::object out, int64_t s, int threads) {
        auto ya = tensor_arg(y, "y", 5);
        auto oa = tensor_arg(out, "out", 5);
        py::gil_scoped_release release;
        pyfast::depth_to_space_crop(ya, oa, s, threads);
      },
      py::arg("y"), py::arg("out"), py::arg("s") = 2, py::arg("threads") = 0,
      "out (N, C, H, W, 1) = depth_to_space(y (N, Cb, h, w, B), s, CRD order) cropped to H x W; "
      "float32 CPU.");
}

}  // namespace pyfast
