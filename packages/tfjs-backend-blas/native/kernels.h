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
  // out[i] = Σ_t a[t][i]·b[t][i] (or out[i] += …, when accumulate) for i < n: the rows of a direct convolution
  void (*sumOfProducts)(const float* const* a, const float* const* b, int64_t count, float* out, int64_t n, bool accumulate);
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
