// symmetric_eigen.h: batched eigendecomposition of small symmetric matrices (cyclic Jacobi), the
// CPU twin of the CUDA plugin's cuSOLVER syevj entry point.
#pragma once

#include <cstdint>

namespace kvc::cpu {

// For each of batch symmetric n x n matrices at a + b*n*n (row- or column-major alike: only the
// upper triangle is read), writes its eigenvalues in ascending order to eigenvalues + b*n and the
// matching unit eigenvectors to vectors + b*n*n, eigenvector j at [j*n, j*n + n) (the column-major
// layout cuSOLVER writes). Computed in double, rounded to float; sweeps until the off-diagonal
// mass is below 1e-12 of the Frobenius norm squared (at most 100 sweeps).
void symmetric_eigen_batched(const float* a, uint32_t n, uint32_t batch, float* eigenvalues,
                             float* vectors);

}  // namespace kvc::cpu
