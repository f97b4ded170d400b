// TensorArg: a borrowed, checked view of a tensor that crossed the Python
// boundary as a DLPack capsule. The extension never links against libtorch:
// every op receives raw buffers through this type and checks them here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dlpack.h"

namespace pyfast {

enum class DType { kFloat32, kFloat64 };
enum class DeviceKind { kCPU, kCUDA };

struct TensorArg {
  std::string name;  // argument name, used in every error message
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  DeviceKind device = DeviceKind::kCPU;
  int device_index = 0;
  std::vector<int64_t> shape;

  int64_t numel() const;
  int64_t size(int d) const { return shape.at(static_cast<size_t>(d)); }
  std::string shape_str() const;
  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
};

// Reads a DLPack tensor and checks what every pyfast kernel needs: a float32 or
// float64 dtype, row-major contiguity and the given rank (rank < 0: any).
// Throws std::invalid_argument naming `name` otherwise.
TensorArg read_tensor(const dl::ManagedTensor* managed, const std::string& name, int rank);

// Throws std::invalid_argument unless b has a's dtype and device.
void check_same_dtype_device(const TensorArg& a, const TensorArg& b);
// Throws std::invalid_argument unless t.shape == expected.
void check_shape(const TensorArg& t, const std::vector<int64_t>& expected);

// Throws std::invalid_argument if t lives on a device this build has no kernels for.
void check_device_compiled(const TensorArg& t);
// Throws std::invalid_argument unless t has at least one element.
void check_not_empty(const TensorArg& t);

const char* dtype_name(DType d);

}  // namespace pyfast
