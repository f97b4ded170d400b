// What the CUDA part of the build provides; valid in CPU-only builds too.
#pragma once
#include <string>

namespace pyfast {
bool cuda_compiled();
std::string cuda_archs();    // e.g. "80-real;90-real;90-virtual", "" without CUDA
int cuda_runtime_version();  // e.g. 13000, 0 without CUDA
}  // namespace pyfast
