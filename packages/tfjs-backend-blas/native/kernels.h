// Elementwise loops compiled twice (kernels_base.cc for any x86-64/arm64, kernels_avx2.cc with AVX2+FMA), picked
// at load time by what the CPU supports: the polynomial exp/tanh run ~3× faster with 256-bit vectors and FMA.
#pragma once
#include <cstdint>

namespace bioprop {

enum BinaryOp { ADD, SUB, MUL, DIV, MAX, MIN, SQDIFF, GREATER, GREATER_EQ, LESS, LESS_EQ, EQUAL, NOT_EQUAL };
enum UnaryOp { TANH, SIGMOID, RELU, RELU6, EXP, NEG, SQUARE, SQRT, ABS, RECIPROCAL, RSQRT, LEAKY_RELU, ELU, LOG, SIGN, CLIP, STEP };

struct KernelTable {
  const char* name;
  // out[i] = op(a[i·sa], b[i·sb]) for i < n; sa, sb ∈ {0, 1}
  void (*binaryRow)(int op, const float* a, const float* b, float* out, int64_t n, int sa, int sb);
  void (*compareRow)(int op, const float* a, const float* b, uint8_t* out, int64_t n, int sa, int sb);
  // out[i] = op(x[i]) for i in [begin, end); out may alias x
  void (*unaryRange)(int op, const float* x, float* out, int64_t begin, int64_t end, double alpha, float beta);
  // softmax (or log-softmax) of one contiguous row
  void (*softmaxRow)(const float* x, float* out, int64_t cols, bool log);
};

namespace base {
extern const KernelTable table;
}
#if defined(__x86_64__) && defined(__GNUC__)
namespace avx2 {
extern const KernelTable table;
}
#endif

}  // namespace bioprop
