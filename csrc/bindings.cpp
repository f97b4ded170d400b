// pybind11 module pyfast._C: the only file that includes pybind11.
//
// Tensors arrive as DLPack capsules (or objects with __dlpack__), outputs are
// preallocated by the caller, and CUDA work is enqueued on the stream the caller
// passes as an integer handle. std::invalid_argument becomes ValueError.
#include "bindings.h"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/isa.h"
#include "common/parallel.h"
#include "common/tensor.h"
#include "cuda_info.h"

namespace py = pybind11;

pyfast::TensorArg pyfast::tensor_arg(const py::object& obj, const char* name, int rank) {
  py::object capsule = obj;
  if (!PyCapsule_CheckExact(obj.ptr())) {
    if (!py::hasattr(obj, "__dlpack__"))
      throw std::invalid_argument(std::string(name) +
                                  " must be a DLPack capsule or support __dlpack__");
    try {
      capsule = obj.attr("__dlpack__")();
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_BufferError)) throw;
      // numpy refuses to export a read-only array through DLPack.
      throw std::invalid_argument(std::string(name) + " cannot be passed: " + e.what() +
                                  " (pass a writable copy)");
    }
  }
  auto* managed = static_cast<const pyfast::dl::ManagedTensor*>(
      PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (managed == nullptr) {
    PyErr_Clear();
    throw std::invalid_argument(std::string(name) + " is not an unconsumed DLPack capsule");
  }
  return pyfast::read_tensor(managed, name, rank);
}

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = PYFAST_VERSION;
  info["cuda_compiled"] = pyfast::cuda_compiled();
  info["cuda_archs"] = pyfast::cuda_archs();
  info["cuda_runtime_version"] = pyfast::cuda_runtime_version();
  info["openmp"] = pyfast::openmp_enabled();
  info["num_threads"] = pyfast::max_threads();
  info["cpu_isa"] = pyfast::isa_name(pyfast::active_isa());
  info["compiled_isas"] = pyfast::compiled_isas();
  info["compiler"] = PYFAST_COMPILER;
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "pyfast compiled kernels (C++/OpenMP and CUDA), called through pyfast.ops";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("build_info", &build_info, "Build configuration of the extension as a dict.");
  m.def("get_num_threads", &pyfast::max_threads, "Threads the CPU kernels use.");
  m.def("set_num_threads", &pyfast::set_max_threads, py::arg("n"),
        "Set the number of threads the CPU kernels use.");

  pyfast::register_gram(m);
  pyfast::register_tv(m);
  pyfast::register_masked_conv(m);
  pyfast::register_nchwc(m);
  pyfast::register_occlusion(m);
  pyfast::register_winograd(m);
}
