// Per-channel sums over the rows of an [M, C] block with few channels, shared by the Sum/Mean kernel and the fused
// batch norm so that both add in the same order (the fused kernel must equal the tf-op path bit for bit).
#pragma once
#include <cstdint>

namespace bioprop {

// Channels below this are summed by periodicColumnSums; wider rows vectorize well one row at a time.
constexpr int64_t kPeriodicSumChannels = 16;

// acc[c] = Σ_r term(r·C + c, j) in double for 1 < C < kPeriodicSumChannels. Rows are taken k at a time (k·C ≥ 32
// floats, one flat run that vectorizes), each row class r mod k summed separately, then the k partial sums of a
// channel added in class order. term(i, j) is the float added for flat index i, where j = i mod (k·C) is its
// position in the run (so term can read a per-channel constant tiled to the run's length).
template <class Term>
void periodicColumnSums(int64_t M, int64_t C, double* acc, Term term) {
  const int64_t k = (32 + C - 1) / C, P = k * C;  // P < 32 + kPeriodicSumChannels
  double part[32 + kPeriodicSumChannels] = {};
  const int64_t groups = M / k;
  for (int64_t g = 0; g < groups; g++) {
    const int64_t base = g * P;
    for (int64_t j = 0; j < P; j++) part[j] += static_cast<double>(term(base + j, j));
  }
  for (int64_t r = groups * k; r < M; r++) {
    const int64_t j0 = (r - groups * k) * C;
    for (int64_t c = 0; c < C; c++) part[j0 + c] += static_cast<double>(term(r * C + c, j0 + c));
  }
  for (int64_t c = 0; c < C; c++) {
    double s = 0;
    for (int64_t q = 0; q < k; q++) s += part[q * C + c];
    acc[c] = s;
  }
}

}  // namespace bioprop
