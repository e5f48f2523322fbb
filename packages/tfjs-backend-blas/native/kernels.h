// Elementwise loops compiled twice (kernels_base.cc for any x86-64/arm64, kernels_avx2.cc with AVX2+FMA), picked
// at load time by what the CPU supports: the polynomial exp/tanh run ~3× faster with 256-bit vectors and FMA.
#pragma once
#include <cstdint>

namespace bioprop {

enum BinaryOp { ADD, SUB, MUL, DIV, MAX, MIN, SQDIFF, GREATER, GREATER_EQ, LESS, LESS_EQ, EQUAL, NOT_EQUAL };
enum UnaryOp { TANH, SIGMOID, RELU, RELU6, EXP, NEG, SQUARE, SQRT, ABS, RECIPROCAL, RSQRT, LEAKY_RELU, ELU, LOG, SIGN, CLIP, STEP };

// Adam's constants as float32, each rounded once from the double the caller computed (as tf's scalars are)
struct AdamConsts {
  float beta1, oneMinusBeta1, beta2, oneMinusBeta2, c2, epsilon, negLrOverC1, oneMinusDecay;
};

// SGD's constants as float32, each rounded once from the double the caller computed (as tf's scalars are)
struct SgdConsts {
  float momentum, negLr, oneMinusDecay;
  bool hasMomentum, nesterov, decay;
};

struct KernelTable {
  const char* name;
  // out[i] = op(a[i·sa], b[i·sb]) for i < n; sa, sb ∈ {0, 1}
  void (*binaryRow)(int op, const float* a, const float* b, float* out, int64_t n, int sa, int sb);
  void (*compareRow)(int op, const float* a, const float* b, uint8_t* out, int64_t n, int sa, int sb);
  // out[i] = op(x[i]) for i in [begin, end); out may alias x
  void (*unaryRange)(int op, const float* x, float* out, int64_t begin, int64_t end, double alpha, float beta);
  // softmax (or log-softmax) of one contiguous row
  void (*softmaxRow)(const float* x, float* out, int64_t cols, bool log);
  // one fused Adam step over [begin, end): m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g², s = −(lr/c1)·m' / (√(v'/c2) + ε),
  // w' = (1−decay)·w + s; inputs and outputs are distinct arrays
  void (*adamRange)(const float* w, const float* g, const float* m, const float* v, float* outW, float* outM, float* outV,
                    float* outStep, int64_t begin, int64_t end, const AdamConsts& k);
  // one fused SGD step over [begin, end): with momentum v' = μ·v + g and d = v' (Nesterov: g + μ·v'), else d = g;
  // s = −lr·d, w' = (1−decay)·w + s (w + s without decay); v and outV are unused without momentum; outStep may be
  // null (s not written). outW null: only s, from g and v' (passed as v)
  void (*sgdRange)(const float* w, const float* g, const float* v, float* outW, float* outV, float* outStep, int64_t begin,
                   int64_t end, const SgdConsts& k);
  // one output row [outW, F ≤ 8] of a direct convolution: Σ over taps t of xs[t][ox]·ws[t][f] (xs[t] readable 16 floats
  // past outW)
  void (*directConvRow)(const float* const* xs, const float* const* ws, int64_t taps, float* out, int64_t outW, int64_t F);
  // the filter gradient's share of one output row: acc[(t·F + f)·8 + lane] += Σ_ox xs[t][ox]·d[f·dstride + ox]
  // (8 partial sums per (t, f); xs[t] readable to a multiple of 8 past outW, d zero there)
  void (*directFilterRow)(const float* const* xs, int64_t taps, const float* d, int64_t dstride, int64_t outW, int64_t F, float* acc);
};

// The kernel set in use (addon.cc): AVX2+FMA where the CPU has both, the baseline otherwise.
const KernelTable& activeKernelTable();

namespace base {
extern const KernelTable table;
}
#if defined(__x86_64__) && defined(__GNUC__)
namespace avx2 {
extern const KernelTable table;
}
#endif

}  // namespace bioprop
