// Shared by the per-op binding files (csrc/<op>/bindings.cpp): how a Python object
// becomes a TensorArg, and the registration hook each op provides.
#pragma once

#include <pybind11/pybind11.h>

#include "common/tensor.h"

namespace pyfast {

// A DLPack capsule or an object with __dlpack__ -> TensorArg of the given rank
// (rank < 0: any). Throws std::invalid_argument (-> ValueError) naming `name`.
TensorArg tensor_arg(const pybind11::object& obj, const char* name, int rank);

// Each op adds its functions to the module.
void register_gram(pybind11::module_& m);
void register_tv(pybind11::module_& m);
void register_masked_conv(pybind11::module_& m);
void register_nchwc(pybind11::module_& m);
void register_occlusion(pybind11::module_& m);
void register_winograd(pybind11::module_& m);

}  // namespace pyfast
