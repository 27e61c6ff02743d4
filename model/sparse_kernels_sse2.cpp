// The first layer's kernels for SSE2, the x86-64 baseline (4 floats a vector).
// CMake compiles this file with the matching instruction-set flags;
// model/sparse_kernels.cpp calls it only on a processor that has them.
#define EMNIST_KERNEL_NAMESPACE sse2
#define EMNIST_KERNEL_LANES 4
#include "model/sparse_kernels_impl.hpp"
