#include "cuda_info.h"

#if defined(PYFAST_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace pyfast {

bool cuda_compiled() {
#if defined(PYFAST_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

std::string cuda_archs() {
#if defined(PYFAST_WITH_CUDA)
  return PYFAST_CUDA_ARCHS;
#else
  return "";
#endif
}

int cuda_runtime_version() {
#if defined(PYFAST_WITH_CUDA)
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return 0;
  return v;
#else
  return 0;
#endif
}

}  // namespace pyfast
