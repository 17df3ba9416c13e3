// symmetric_eigen.cpp: cyclic Jacobi eigendecomposition of small symmetric matrices, batched.
#include "backend/cpu/symmetric_eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace kvc::cpu {
namespace {

// One matrix: m (n x n, symmetric, row-major, destroyed) -> values, v (row i = component i).
void jacobi(std::vector<double>& m, uint32_t n, std::vector<double>& values,
            std::vector<double>& v) {
  v.assign(size_t{n} * n, 0.0);
  for (uint32_t i = 0; i < n; ++i) v[size_t{i} * n + i] = 1.0;
  double total = 0.0;
  for (double x : m) total += x * x;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (uint32_t p = 0; p < n; ++p) {
      for (uint32_t q = p + 1; q < n; ++q) off += 2.0 * m[size_t{p} * n + q] * m[size_t{p} * n + q];
    }
    if (off <= 1e-24 * total || off == 0.0) break;
    for (uint32_t p = 0; p < n; ++p) {
      for (uint32_t q = p + 1; q < n; ++q) {
        const double apq = m[size_t{p} * n + q];
        if (apq == 0.0) continue;
        const double app = m[size_t{p} * n + p];
        const double aqq = m[size_t{q} * n + q];
        const double theta = (aqq - app) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (uint32_t k = 0; k < n; ++k) {  // columns p and q
          const double mkp = m[size_t{k} * n + p], mkq = m[size_t{k} * n + q];
          m[size_t{k} * n + p] = c * mkp - s * mkq;
          m[size_t{k} * n + q] = s * mkp + c * mkq;
        }
        for (uint32_t k = 0; k < n; ++k) {  // rows p and q
          const double mpk = m[size_t{p} * n + k], mqk = m[size_t{q} * n + k];
          m[size_t{p} * n + k] = c * mpk - s * mqk;
          m[size_t{q} * n + k] = s * mpk + c * mqk;
        }
        for (uint32_t k = 0; k < n; ++k) {
          const double vkp = v[size_t{k} * n + p], vkq = v[size_t{k} * n + q];
          v[size_t{k} * n + p] = c * vkp - s * vkq;
          v[size_t{k} * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  values.resize(n);
  for (uint32_t i = 0; i < n; ++i) values[i] = m[size_t{i} * n + i];
}

}  // namespace

void symmetric_eigen_batched(const float* a, uint32_t n, uint32_t batch, float* eigenvalues,
                             float* vectors) {
  const size_t nn = size_t{n} * n;
  std::vector<double> m(nn), values, v;
  std::vector<uint32_t> order(n);
  for (uint32_t b = 0; b < batch; ++b) {
    const float* src = a + b * nn;
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t j = i; j < n; ++j) {  // the upper triangle, mirrored
        m[size_t{i} * n + j] = m[size_t{j} * n + i] = src[size_t{i} * n + j];
      }
    }
    jacobi(m, n, values, v);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t x, uint32_t y) { return values[x] < values[y]; });
    for (uint32_t j = 0; j < n; ++j) {
      eigenvalues[b * n + j] = static_cast<float>(values[order[j]]);
      for (uint32_t i = 0; i < n; ++i) {
        vectors[b * nn + size_t{j} * n + i] = static_cast<float>(v[size_t{i} * n + order[j]]);
      }
    }
  }
}

}  // namespace kvc::cpu
