// The first layer's kernels for AVX2 and FMA (8 floats a vector). CMake
// compiles this file with the matching instruction-set flags;
// model/sparse_kernels.cpp calls it only on a processor that has them.
#define EMNIST_KERNEL_NAMESPACE avx2
#define EMNIST_KERNEL_LANES 8
#include "model/sparse_kernels_impl.hpp"
