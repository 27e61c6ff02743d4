// The first layer's kernels for AVX-512 (16 floats a vector). CMake compiles
// this file with the matching instruction-set flags; model/sparse_kernels.cpp
// calls it only on a processor that has them.
#define EMNIST_KERNEL_NAMESPACE avx512
#define EMNIST_KERNEL_LANES 16
#include "model/sparse_kernels_impl.hpp"
