// Python bindings of the gram kernels (see bindings.h).
#include <cstdint>

#include "../bindings.h"
#include "gram.h"

namespace py = pybind11;

namespace pyfast {

void register_gram(py::module_& m) {
  m.def(
      "gram_forward",
      [](py::object x, py::object out, double scale, std::uintptr_t stream) {
        auto xa = tensor_arg(x, "x", 4);
        auto oa = tensor_arg(out, "out", 3);
        py::gil_scoped_release release;
        pyfast::gram_forward(xa, oa, scale, stream);
      },
      py::arg("x"), py::arg("out"), py::arg("scale"), py::arg("stream") = 0,
      "out (B, C, C) = scale * F F^T with F = x (B, C, H, W) viewed as (B, C, H*W).");
  m.def(
      "gram_backward",
      [](py::object x, py::object grad_out, py::object grad_x, double scale,
         std::uintptr_t stream) {
        auto xa = tensor_arg(x, "x", 4);
        auto ga = tensor_arg(grad_out, "grad_out", 3);
        auto gx = tensor_arg(grad_x, "grad_x", 4);
        py::gil_scoped_release release;
        pyfast::gram_backward(xa, ga, gx, scale, stream);
      },
      py::arg("x"), py::arg("grad_out"), py::arg("grad_x"), py::arg("scale"), py::arg("stream") = 0,
      "grad_x = scale * (grad_out + grad_out^T) F, reshaped as x.");
}

}  // namespace pyfast
