#include "tensor.h"

#include <sstream>
#include <stdexcept>

namespace pyfast {

int64_t TensorArg::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

static std::string join_shape(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    os << shape[i];
  }
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

std::string TensorArg::shape_str() const { return join_shape(shape); }

const char* dtype_name(DType d) { return d == DType::kFloat32 ? "float32" : "float64"; }

static std::string describe_dtype(const dl::DataType& t) {
  std::ostringstream os;
  switch (t.code) {
    case dl::kInt:
      os << "int";
      break;
    case dl::kUInt:
      os << "uint";
      break;
    case dl::kFloat:
      os << "float";
      break;
    case dl::kBfloat:
      os << "bfloat";
      break;
    case dl::kComplex:
      os << "complex";
      break;
    case dl::kBool:
      os << "bool";
      break;
    default:
      os << "type" << int(t.code);
  }
  if (t.code != dl::kBool) os << int(t.bits);
  if (t.lanes != 1) os << "x" << t.lanes;
  return os.str();
}

TensorArg read_tensor(const dl::ManagedTensor* managed, const std::string& name, int rank) {
  if (managed == nullptr) throw std::invalid_argument(name + " is not a DLPack tensor");
  const dl::Tensor& t = managed->dl_tensor;
  TensorArg out;
  out.name = name;
  out.shape.assign(t.shape, t.shape + t.ndim);
  if (rank >= 0 && t.ndim != rank) {
    throw std::invalid_argument(name + " must be " + std::to_string(rank) + "-D, got shape " +
                                out.shape_str());
  }
  if (t.dtype.code == dl::kFloat && t.dtype.lanes == 1 && t.dtype.bits == 32) {
    out.dtype = DType::kFloat32;
  } else if (t.dtype.code == dl::kFloat && t.dtype.lanes == 1 && t.dtype.bits == 64) {
    out.dtype = DType::kFloat64;
  } else {
    throw std::invalid_argument(name + " must be float32 or float64, got " +
                                describe_dtype(t.dtype));
  }
  switch (t.device.device_type) {
    case dl::kCPU:
    case dl::kCUDAHost:
      out.device = DeviceKind::kCPU;
      break;
    case dl::kCUDA:
    case dl::kCUDAManaged:
      out.device = DeviceKind::kCUDA;
      break;
    default:
      throw std::invalid_argument(name + " is on an unsupported device (DLPack device type " +
                                  std::to_string(t.device.device_type) + ")");
  }
  out.device_index = t.device.device_id;
  if (t.strides != nullptr && out.numel() > 0) {  // an empty tensor is trivially contiguous
    int64_t expected = 1;
    for (int d = t.ndim - 1; d >= 0; --d) {
      // A dimension of size 1 may carry any stride and still be contiguous.
      if (t.shape[d] != 1 && t.strides[d] != expected) {
        throw std::invalid_argument(name + " must be contiguous (row-major), got shape " +
                                    out.shape_str() + " with non-compact strides");
      }
      expected *= t.shape[d];
    }
  }
  out.data = static_cast<char*>(t.data) + t.byte_offset;
  return out;
}

void check_same_dtype_device(const TensorArg& a, const TensorArg& b) {
  if (a.dtype != b.dtype) {
    throw std::invalid_argument(b.name + " must have the dtype of " + a.name + " (" +
                                dtype_name(a.dtype) + "), got " + dtype_name(b.dtype));
  }
  if (a.device != b.device || a.device_index != b.device_index) {
    throw std::invalid_argument(b.name + " must be on the device of " + a.name);
  }
}

void check_shape(const TensorArg& t, const std::vector<int64_t>& expected) {
  if (t.shape != expected) {
    throw std::invalid_argument(t.name + " must have shape " + join_shape(expected) + ", got " +
                                t.shape_str());
  }
}

void check_device_compiled(const TensorArg& t) {
#if !defined(PYFAST_WITH_CUDA)
  if (t.device == DeviceKind::kCUDA)
    throw std::invalid_argument(t.name + " is a CUDA tensor but pyfast._C was built without CUDA");
#else
  (void)t;
#endif
}

void check_not_empty(const TensorArg& t) {
  if (t.numel() == 0)
    throw std::invalid_argument(t.name + " must not be empty, got shape " + t.shape_str());
}

}  // namespace pyfast
