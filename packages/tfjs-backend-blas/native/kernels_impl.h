// The elementwise loops behind kernels.h. Included by one translation unit per instruction set, inside
// `namespace bioprop::KNS`; everything here has internal linkage except the exported table.
namespace {

#include "mathfun.h"

struct Add { static float f(float a, float b) { return a + b; } };
struct Sub { static float f(float a, float b) { return a - b; } };
struct Mul { static float f(float a, float b) { return a * b; } };
struct Div { static float f(float a, float b) { return a / b; } };
// Math.max / Math.min: NaN when either side is NaN
struct Max { static float f(float a, float b) { float r = a > b ? a : b; r = a != a ? a : r; return b != b ? b : r; } };
struct Min { static float f(float a, float b) { float r = a < b ? a : b; r = a != a ? a : r; return b != b ? b : r; } };
struct SqDiff { static float f(float a, float b) { float d = a - b; return d * d; } };
struct Gt { static uint8_t f(float a, float b) { return a > b; } };
struct Ge { static uint8_t f(float a, float b) { return a >= b; } };
struct Lt { static uint8_t f(float a, float b) { return a < b; } };
struct Le { static uint8_t f(float a, float b) { return a <= b; } };
struct Eq { static uint8_t f(float a, float b) { return a == b; } };
struct Ne { static uint8_t f(float a, float b) { return a != b; } };

template <class Op, class T>
inline void row(const float* __restrict a, const float* __restrict b, T* __restrict out, int64_t n, int sa, int sb) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; i++) out[i] = Op::f(a[i], b[i]);
  } else if (sa) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = Op::f(a[i], bv);
  } else if (sb) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = Op::f(av, b[i]);
  } else {
    const T v = Op::f(a[0], b[0]);
    for (int64_t i = 0; i < n; i++) out[i] = v;
  }
}

void binaryRowImpl(int op, const float* a, const float* b, float* out, int64_t n, int sa, int sb) {
  switch (op) {
    case ::bioprop::ADD: row<Add>(a, b, out, n, sa, sb); break;
    case ::bioprop::SUB: row<Sub>(a, b, out, n, sa, sb); break;
    case ::bioprop::MUL: row<Mul>(a, b, out, n, sa, sb); break;
    case ::bioprop::DIV: row<Div>(a, b, out, n, sa, sb); break;
    case ::bioprop::MAX: row<Max>(a, b, out, n, sa, sb); break;
    case ::bioprop::MIN: row<Min>(a, b, out, n, sa, sb); break;
    case ::bioprop::SQDIFF: row<SqDiff>(a, b, out, n, sa, sb); break;
    default: break;
  }
}

void compareRowImpl(int op, const float* a, const float* b, uint8_t* out, int64_t n, int sa, int sb) {
  switch (op) {
    case ::bioprop::GREATER: row<Gt>(a, b, out, n, sa, sb); break;
    case ::bioprop::GREATER_EQ: row<Ge>(a, b, out, n, sa, sb); break;
    case ::bioprop::LESS: row<Lt>(a, b, out, n, sa, sb); break;
    case ::bioprop::LESS_EQ: row<Le>(a, b, out, n, sa, sb); break;
    case ::bioprop::EQUAL: row<Eq>(a, b, out, n, sa, sb); break;
    case ::bioprop::NOT_EQUAL: row<Ne>(a, b, out, n, sa, sb); break;
    default: break;
  }
}

// x and out may be the same array (in-place activation of a fused matmul): same index read then written
template <class F>
inline void each(const float* x, float* out, int64_t s, int64_t e, F f) {
  for (int64_t i = s; i < e; i++) out[i] = f(x[i]);
}

void unaryRangeImpl(int op, const float* x, float* out, int64_t s, int64_t e, double alphaD, float beta) {
  const float alpha = static_cast<float>(alphaD);
  switch (op) {
    case ::bioprop::TANH: each(x, out, s, e, [](float v) { return tanhf_(v); }); break;
    case ::bioprop::SIGMOID: each(x, out, s, e, [](float v) { return 1.0f / (1.0f + expf_(-v)); }); break;
    case ::bioprop::RELU: each(x, out, s, e, [](float v) { return v < 0.0f ? 0.0f : v; }); break;  // NaN stays NaN
    case ::bioprop::RELU6: each(x, out, s, e, [](float v) { float r = v < 0.0f ? 0.0f : v; return r > 6.0f ? 6.0f : r; }); break;
    case ::bioprop::EXP: each(x, out, s, e, [](float v) { return expf_(v); }); break;
    case ::bioprop::NEG: each(x, out, s, e, [](float v) { return -v; }); break;
    case ::bioprop::SQUARE: each(x, out, s, e, [](float v) { return v * v; }); break;
    case ::bioprop::SQRT: each(x, out, s, e, [](float v) { return __builtin_sqrtf(v); }); break;
    case ::bioprop::ABS: each(x, out, s, e, [](float v) { return __builtin_fabsf(v); }); break;
    case ::bioprop::RECIPROCAL: each(x, out, s, e, [](float v) { return 1.0f / v; }); break;
    case ::bioprop::RSQRT: each(x, out, s, e, [](float v) { return 1.0f / __builtin_sqrtf(v); }); break;
    // in double, like the cpu kernel (its alpha is a double)
    case ::bioprop::LEAKY_RELU: each(x, out, s, e, [alphaD](float v) { return v < 0.0f ? static_cast<float>(alphaD * v) : v; }); break;
    case ::bioprop::ELU: each(x, out, s, e, [](float v) { return v >= 0.0f ? v : expf_(v) - 1.0f; }); break;
    case ::bioprop::LOG: each(x, out, s, e, [](float v) { return logf_(v); }); break;
    case ::bioprop::SIGN: each(x, out, s, e, [](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }); break;
    // the cpu kernel's order: above max → max, else below min → min (NaN passes through)
    case ::bioprop::CLIP: each(x, out, s, e, [alpha, beta](float v) { return v > beta ? beta : (v < alpha ? alpha : v); }); break;
    case ::bioprop::STEP: each(x, out, s, e, [alpha](float v) { return v != v ? v : (v > 0.0f ? 1.0f : alpha); }); break;
    default: break;
  }
}

void softmaxRowImpl(const float* __restrict x, float* __restrict out, int64_t cols, bool logOut) {
  float m = x[0];
  for (int64_t j = 1; j < cols; j++) m = x[j] > m ? x[j] : m;
  for (int64_t j = 0; j < cols; j++) out[j] = expf_(x[j] - m);
  double sum = 0;
  for (int64_t j = 0; j < cols; j++) sum += out[j];
  if (logOut) {
    const float ls = logf_(static_cast<float>(sum));
    for (int64_t j = 0; j < cols; j++) out[j] = (x[j] - m) - ls;
  } else {
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < cols; j++) out[j] *= inv;
  }
}

// the tf-op Adam's roundings, one per op in its order; no FMA contraction, so results match the cpu backend bit for bit
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void adamRangeImpl(const float* __restrict w, const float* __restrict g, const float* __restrict m, const float* __restrict v,
                   float* __restrict outW, float* __restrict outM, float* __restrict outV, float* __restrict outStep,
                   int64_t s, int64_t e, const ::bioprop::AdamConsts& k) {
  const float b1 = k.beta1, ob1 = k.oneMinusBeta1, b2 = k.beta2, ob2 = k.oneMinusBeta2, c2 = k.c2, eps = k.epsilon;
  const float scale = k.negLrOverC1, keep = k.oneMinusDecay;
  for (int64_t i = s; i < e; i++) {
    const float gi = g[i];
    const float bm = b1 * m[i];
    const float gm = ob1 * gi;
    const float nm = bm + gm;
    const float g2 = gi * gi;
    const float bv = b2 * v[i];
    const float gv = ob2 * g2;
    const float nv = bv + gv;
    const float den = __builtin_sqrtf(nv / c2) + eps;
    const float q = nm / den;
    const float step = scale * q;
    const float kw = keep * w[i];
    outM[i] = nm;
    outV[i] = nv;
    outStep[i] = step;
    outW[i] = kw + step;
  }
}

// 8 floats as one GCC vector (one AVX register, two SSE ones); loads and stores through memcpy, so unaligned
typedef float Vec8 __attribute__((vector_size(32)));
inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

void sumOfProductsImpl(const float* const* a, const float* const* b, int64_t count, float* out, int64_t n, bool accumulate) {
  int64_t i = 0;
  // 32 columns at a time: four accumulators stay in registers over every pair
  for (; i + 32 <= n; i += 32) {
    Vec8 s0 = {}, s1 = {}, s2 = {}, s3 = {};
    if (accumulate) {
      s0 = load8(out + i);
      s1 = load8(out + i + 8);
      s2 = load8(out + i + 16);
      s3 = load8(out + i + 24);
    }
    for (int64_t t = 0; t < count; t++) {
      const float* pa = a[t] + i;
      const float* pb = b[t] + i;
      s0 += load8(pa) * load8(pb);
      s1 += load8(pa + 8) * load8(pb + 8);
      s2 += load8(pa + 16) * load8(pb + 16);
      s3 += load8(pa + 24) * load8(pb + 24);
    }
    store8(out + i, s0);
    store8(out + i + 8, s1);
    store8(out + i + 16, s2);
    store8(out + i + 24, s3);
  }
  for (; i + 8 <= n; i += 8) {
    Vec8 s = {};
    if (accumulate) s = load8(out + i);
    for (int64_t t = 0; t < count; t++) s += load8(a[t] + i) * load8(b[t] + i);
    store8(out + i, s);
  }
  for (; i < n; i++) {
    float s = accumulate ? out[i] : 0.0f;
    for (int64_t t = 0; t < count; t++) s += a[t][i] * b[t][i];
    out[i] = s;
  }
}

}  // namespace

