// Python bindings of the masked convolution and the cached PixelCNN sampler (see bindings.h).
#include <cstdint>
#include <optional>
#include <string>

#include "../bindings.h"
#include "masked_conv.h"

namespace py = pybind11;

namespace pyfast {
namespace {

bool parse_mask(const std::string& mask_type) {
  if (mask_type == "A") return false;
  if (mask_type == "B") return true;
  throw std::invalid_argument("mask_type must be 'A' or 'B', got '" + mask_type + "'");
}

std::optional<TensorArg> optional_arg(const py::object& obj, const char* name, int rank) {
  if (obj.is_none()) return std::nullopt;
  return tensor_arg(obj, name, rank);
}

const TensorArg* ptr_of(const std::optional<TensorArg>& t) { return t ? &*t : nullptr; }

}  // namespace

void register_masked_conv(py::module_& m) {
  m.def(
      "masked_conv_forward",
      [](py::object x, py::object weight, py::object bias, py::object out,
         const std::string& mask_type, std::uintptr_t stream) {
        const bool mask_b = parse_mask(mask_type);
        auto xa = tensor_arg(x, "x", 4);
        auto wa = tensor_arg(weight, "weight", 4);
        auto ba = optional_arg(bias, "bias", 1);
        auto oa = tensor_arg(out, "out", 4);
        py::gil_scoped_release release;
        pyfast::masked_conv_forward(xa, wa, ptr_of(ba), oa, mask_b, stream);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("mask_type"),
      py::arg("stream") = 0,
      "out (B, Cout, H, W) = masked convolution of x (B, Cin, H, W) with weight (Cout, Cin, k, k) "
      "over the kept taps of mask A or B, zero padding k // 2, plus bias (Cout,) if given.");
  m.def(
      "masked_conv_backward",
      [](py::object x, py::object weight, py::object grad_out, py::object grad_x,
         py::object grad_weight, py::object grad_bias, const std::string& mask_type,
         std::uintptr_t stream) {
        const bool mask_b = parse_mask(mask_type);
        auto xa = tensor_arg(x, "x", 4);
        auto wa = tensor_arg(weight, "weight", 4);
        auto ga = tensor_arg(grad_out, "grad_out", 4);
        auto gx = optional_arg(grad_x, "grad_x", 4);
        auto gw = optional_arg(grad_weight, "grad_weight", 4);
        auto gb = optional_arg(grad_bias, "grad_bias", 1);
        py::gil_scoped_release release;
        pyfast::masked_conv_backward(xa, wa, ga, ptr_of(gx), ptr_of(gw), ptr_of(gb), mask_b,
                                     stream);
      },
      py::arg("x"), py::arg("weight"), py::arg("grad_out"), py::arg("grad_x"),
      py::arg("grad_weight"), py::arg("grad_bias"), py::arg("mask_type"), py::arg("stream") = 0,
      "Gradients of masked_conv_forward; grad_x, grad_weight and grad_bias may each be None "
      "(not computed); given ones are overwritten (masked taps of grad_weight get 0).");
  m.def(
      "pixelcnn_sample",
      [](py::list layers, py::list buffers, py::object uniforms, py::object pixels,
         int64_t height, int64_t width, int64_t levels, int64_t start, int64_t stop,
         std::uintptr_t stream) {
        SamplerArgs args;
        for (size_t i = 0; i < buffers.size(); ++i) {
          const std::string name = "buffers[" + std::to_string(i) + "]";
          args.buffers.push_back(tensor_arg(buffers[i], name.c_str(), 3));
        }
        for (size_t i = 0; i < layers.size(); ++i) {
          auto spec = layers[i].cast<py::tuple>();
          if (spec.size() != 7)
            throw std::invalid_argument(
                "layers[" + std::to_string(i) +
                "] must be (weight, bias, mask_type, relu_input, in, out, residual)");
          const std::string name = "layers[" + std::to_string(i) + "]";
          SamplerLayer L;
          L.weight = tensor_arg(spec[0], (name + ".weight").c_str(), 4);
          L.bias = tensor_arg(spec[1], (name + ".bias").c_str(), 1);
          L.mask_b = parse_mask(spec[2].cast<std::string>());
          L.relu_input = spec[3].cast<bool>();
          L.in = spec[4].cast<int>();
          L.out = spec[5].cast<int>();
          L.residual = spec[6].cast<int>();
          args.layers.push_back(std::move(L));
        }
        args.uniforms = tensor_arg(uniforms, "uniforms", 2);
        args.pixels = tensor_arg(pixels, "pixels", 2);
        args.height = height;
        args.width = width;
        args.levels = levels;
        args.start = start;
        args.stop = stop;
        py::gil_scoped_release release;
        pyfast::pixelcnn_sample(args, stream);
      },
      py::arg("layers"), py::arg("buffers"), py::arg("uniforms"), py::arg("pixels"),
      py::arg("height"), py::arg("width"), py::arg("levels"), py::arg("start"), py::arg("stop"),
      py::arg("stream") = 0,
      "Runs raster positions [start, stop) of cached PixelCNN sampling. layers: tuples "
      "(weight (Cout, Cin, k, k), bias (Cout,), mask_type 'A'|'B', relu_input, in, out, "
      "residual (-1: none)); buffers: activation caches (H*W, B, C), buffers[0] the image "
      "(level / (levels - 1)); uniforms, pixels: (B, H*W).");
}

}  // namespace pyfast
