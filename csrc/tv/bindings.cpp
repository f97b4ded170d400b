// Python bindings of the tv kernels (see bindings.h).
#include <cstdint>

#include "../bindings.h"
#include "tv.h"

namespace py = pybind11;

namespace pyfast {

void register_tv(py::module_& m) {
  m.def(
      "tv_forward",
      [](py::object x, py::object out, double beta, double eps, std::uintptr_t stream) {
        auto xa = tensor_arg(x, "x", 4);
        auto oa = tensor_arg(out, "out", 1);
        py::gil_scoped_release release;
        pyfast::tv_forward(xa, oa, {beta, eps}, stream);
      },
      py::arg("x"), py::arg("out"), py::arg("beta") = 2.0, py::arg("eps") = 1e-8,
      py::arg("stream") = 0, "out (B,) = per-image total variation of x (B, C, H, W).");
  m.def(
      "tv_backward",
      [](py::object x, py::object grad_out, py::object grad_x, double beta, double eps,
         std::uintptr_t stream) {
        auto xa = tensor_arg(x, "x", 4);
        auto ga = tensor_arg(grad_out, "grad_out", 1);
        auto gx = tensor_arg(grad_x, "grad_x", 4);
        py::gil_scoped_release release;
        pyfast::tv_backward(xa, ga, gx, {beta, eps}, stream);
      },
      py::arg("x"), py::arg("grad_out"), py::arg("grad_x"), py::arg("beta") = 2.0,
      py::arg("eps") = 1e-8, py::arg("stream") = 0,
      "grad_x = d(sum_b grad_out[b] * tv(x)[b]) / dx.");
}

}  // namespace pyfast
