// Python bindings of the Winograd 3x3 convolution (see bindings.h).
#include "../bindings.h"

#include <optional>

#include "winograd.h"

namespace py = pybind11;

namespace pyfast {

void register_winograd(py::module_& m) {
  m.attr("winograd_rows") = kWinogradRows;
  m.def(
      "winograd_transform_weight",
      [](py::object weight, py::object packed) {
        auto wa = tensor_arg(weight, "weight", 4);
        auto pa = tensor_arg(packed, "packed", 4);
        py::gil_scoped_release release;
        pyfast::winograd_transform_weight(wa, pa);
      },
      py::arg("weight"), py::arg("packed"),
      "packed (16, ceil(Cout/8), Cin, 8) = Winograd F(2x2,3x3) transform G g G^T of weight "
      "(Cout, Cin, 3, 3), float32 CPU, output channels past Cout zero.");
  m.def(
      "winograd_conv3x3",
      [](py::object x, py::object packed, py::object bias, py::object out) {
        auto xa = tensor_arg(x, "x", 4);
        auto pa = tensor_arg(packed, "packed", 4);
        std::optional<TensorArg> ba;
        if (!bias.is_none()) ba = tensor_arg(bias, "bias", 1);
        auto oa = tensor_arg(out, "out", 4);
        py::gil_scoped_release release;
        pyfast::winograd_conv3x3(xa, pa, ba ? &*ba : nullptr, oa);
      },
      py::arg("x"), py::arg("packed"), py::arg("bias"), py::arg("out"),
      "out (N, Cout, H, W) = conv2d(x (N, Cin, H, W), weight, bias, stride 1, padding 1) with "
      "the weight given as packed by winograd_transform_weight; float32 CPU.");
}

}  // namespace pyfast
