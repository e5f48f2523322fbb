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

// the tf-op Adam's roundings, one per op in its order; no FMA contraction, so results match the cpu backend bit for bit.
// Out of place (every output a fresh array) or in place (outW = w, outM = m, outV = v: the caller's variables are
// overwritten, which saves the fresh arrays' traffic); each loop's pointers are distinct, as restrict says.
#if defined(__GNUC__) && !defined(__clang__)
#define BIOPROP_NO_CONTRACT_LOOP __attribute__((optimize("fp-contract=off")))
#else
#define BIOPROP_NO_CONTRACT_LOOP
#endif
#define BIOPROP_ADAM_ELEMENT(W, M, V)        \
  const float gi = g[i];                     \
  const float bm = b1 * (M);                 \
  const float gm = ob1 * gi;                 \
  const float nm = bm + gm;                  \
  const float g2 = gi * gi;                  \
  const float bv = b2 * (V);                 \
  const float gv = ob2 * g2;                 \
  const float nv = bv + gv;                  \
  const float den = __builtin_sqrtf(nv / c2) + eps; \
  const float q = nm / den;                  \
  const float step = scale * q;              \
  const float kw = keep * (W);

BIOPROP_NO_CONTRACT_LOOP
void adamOutOfPlace(const float* __restrict w, const float* __restrict g, const float* __restrict m, const float* __restrict v,
                    float* __restrict outW, float* __restrict outM, float* __restrict outV, float* __restrict outStep, int64_t s,
                    int64_t e, const ::bioprop::AdamConsts& k) {
  const float b1 = k.beta1, ob1 = k.oneMinusBeta1, b2 = k.beta2, ob2 = k.oneMinusBeta2, c2 = k.c2, eps = k.epsilon;
  const float scale = k.negLrOverC1, keep = k.oneMinusDecay;
  for (int64_t i = s; i < e; i++) {
    BIOPROP_ADAM_ELEMENT(w[i], m[i], v[i])
    outM[i] = nm;
    outV[i] = nv;
    outStep[i] = step;
    outW[i] = kw + step;
  }
}

BIOPROP_NO_CONTRACT_LOOP
void adamInPlace(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v, float* __restrict outStep,
                 int64_t s, int64_t e, const ::bioprop::AdamConsts& k) {
  const float b1 = k.beta1, ob1 = k.oneMinusBeta1, b2 = k.beta2, ob2 = k.oneMinusBeta2, c2 = k.c2, eps = k.epsilon;
  const float scale = k.negLrOverC1, keep = k.oneMinusDecay;
  for (int64_t i = s; i < e; i++) {
    BIOPROP_ADAM_ELEMENT(w[i], m[i], v[i])
    m[i] = nm;
    v[i] = nv;
    outStep[i] = step;
    w[i] = kw + step;
  }
}
#undef BIOPROP_ADAM_ELEMENT

void adamRangeImpl(const float* w, const float* g, const float* m, const float* v, float* outW, float* outM, float* outV, float* outStep,
                   int64_t s, int64_t e, const ::bioprop::AdamConsts& k) {
  // the caller (addon.cc) allows exactly these two layouts
  if (outW == w) adamInPlace(outW, g, outM, outV, outStep, s, e, k);
  else adamOutOfPlace(w, g, m, v, outW, outM, outV, outStep, s, e, k);
}

// the tf-op SGD's roundings, one per op in its order (μ·v, + g, [g + μ·v'], −lr·d, (1−decay)·w, + s); no FMA
// contraction, so results match the tf-op path bit for bit. In place as Adam: outW = w and outV = v.
#define BIOPROP_SGD_ELEMENT(W, V, STORE_V)   \
  const float gi = g[i];                     \
  float d = gi;                              \
  if (Momentum) {                            \
    const float mv = mu * (V);               \
    const float nv = mv + gi;                \
    STORE_V = nv;                            \
    if (Nesterov) {                          \
      const float mn = mu * nv;              \
      d = gi + mn;                           \
    } else {                                 \
      d = nv;                                \
    }                                        \
  }                                          \
  const float step = negLr * d;              \
  float wi = (W);                            \
  if (Decay) wi = keep * wi;

template <bool Momentum, bool Nesterov, bool Decay, bool WriteStep>
BIOPROP_NO_CONTRACT_LOOP void sgdOutOfPlace(const float* __restrict w, const float* __restrict g, const float* __restrict v,
                                            float* __restrict outW, float* __restrict outV, float* __restrict outStep, int64_t s,
                                            int64_t e, float mu, float negLr, float keep) {
  for (int64_t i = s; i < e; i++) {
    BIOPROP_SGD_ELEMENT(w[i], v[i], outV[i])
    if (WriteStep) outStep[i] = step;
    outW[i] = wi + step;
  }
}

template <bool Momentum, bool Nesterov, bool Decay, bool WriteStep>
BIOPROP_NO_CONTRACT_LOOP void sgdInPlace(float* __restrict w, const float* __restrict g, float* __restrict v, float* __restrict outStep,
                                         int64_t s, int64_t e, float mu, float negLr, float keep) {
  for (int64_t i = s; i < e; i++) {
    BIOPROP_SGD_ELEMENT(w[i], v[i], v[i])
    if (WriteStep) outStep[i] = step;
    w[i] = wi + step;
  }
}

// the step alone, from g and the velocity after the update (v'): −lr·d with d = g, v' or g + μ·v', rounded as above
template <bool Momentum, bool Nesterov>
BIOPROP_NO_CONTRACT_LOOP void sgdStepOnly(const float* __restrict g, const float* __restrict nvs, float* __restrict outStep, int64_t s,
                                          int64_t e, float mu, float negLr) {
  for (int64_t i = s; i < e; i++) {
    float d = g[i];
    if (Momentum) {
      const float nv = nvs[i];
      if (Nesterov) {
        const float mn = mu * nv;
        d = g[i] + mn;
      } else {
        d = nv;
      }
    }
    outStep[i] = negLr * d;
  }
}
#undef BIOPROP_SGD_ELEMENT
#undef BIOPROP_NO_CONTRACT_LOOP

template <bool Momentum, bool Nesterov, bool Decay>
inline void sgdDispatch(const float* w, const float* g, const float* v, float* outW, float* outV, float* outStep, int64_t s, int64_t e,
                        float mu, float negLr, float keep) {
  if (outW == nullptr) {
    // no update: the step from g and v' (given as v)
    sgdStepOnly<Momentum, Nesterov>(g, v, outStep, s, e, mu, negLr);
  } else if (outW == w) {
    if (outStep) sgdInPlace<Momentum, Nesterov, Decay, true>(outW, g, outV, outStep, s, e, mu, negLr, keep);
    else sgdInPlace<Momentum, Nesterov, Decay, false>(outW, g, outV, outStep, s, e, mu, negLr, keep);
  } else {
    if (outStep) sgdOutOfPlace<Momentum, Nesterov, Decay, true>(w, g, v, outW, outV, outStep, s, e, mu, negLr, keep);
    else sgdOutOfPlace<Momentum, Nesterov, Decay, false>(w, g, v, outW, outV, outStep, s, e, mu, negLr, keep);
  }
}

void sgdRangeImpl(const float* w, const float* g, const float* v, float* outW, float* outV, float* outStep, int64_t s, int64_t e,
                  const ::bioprop::SgdConsts& k) {
  const float mu = k.momentum, lr = k.negLr, keep = k.oneMinusDecay;
  if (!k.hasMomentum) {
    if (k.decay) sgdDispatch<false, false, true>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
    else sgdDispatch<false, false, false>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
  } else if (k.nesterov) {
    if (k.decay) sgdDispatch<true, true, true>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
    else sgdDispatch<true, true, false>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
  } else {
    if (k.decay) sgdDispatch<true, false, true>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
    else sgdDispatch<true, false, false>(w, g, v, outW, outV, outStep, s, e, mu, lr, keep);
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

// ---- direct convolution rows for few output channels (F ≤ 8), vectorized along the output row (see conv.cc)

// One output row [outW, F] (NHWC) = Σ over the row's taps t of xs[t][ox] · ws[t][f]. xs[t] points at the tap's
// input run (stride 1 along the width; readable 16 floats past outW), ws[t] at its F weights. Output pixels go in
// blocks of 16 (8 when F > 6), each channel's partial sums in registers across every tap, then stored interleaved.
template <int F>
void directConvRowT(const float* const* xs, const float* const* ws, int64_t taps, float* out, int64_t outW) {
  constexpr int V = F <= 6 ? 2 : 1;  // vectors of 8 per block: 2·F + V registers stay within AVX2's 16
  constexpr int B = 8 * V;
  for (int64_t ox0 = 0; ox0 < outW; ox0 += B) {
    Vec8 acc[F][V];
    for (int f = 0; f < F; f++)
      for (int v = 0; v < V; v++) acc[f][v] = Vec8{};
    for (int64_t t = 0; t < taps; t++) {
      const float* x = xs[t] + ox0;
      const float* w = ws[t];
      Vec8 xv[V];
      for (int v = 0; v < V; v++) xv[v] = load8(x + 8 * v);
      for (int f = 0; f < F; f++) {
        const Vec8 wf = Vec8{} + w[f];
        for (int v = 0; v < V; v++) acc[f][v] += xv[v] * wf;
      }
    }
    float tmp[F][B];
    for (int f = 0; f < F; f++)
      for (int v = 0; v < V; v++) store8(tmp[f] + 8 * v, acc[f][v]);
    const int64_t n = std::min<int64_t>(B, outW - ox0);
    float* o = out + ox0 * F;
    for (int64_t i = 0; i < n; i++)
      for (int f = 0; f < F; f++) o[i * F + f] = tmp[f][i];
  }
}

void directConvRowImpl(const float* const* xs, const float* const* ws, int64_t taps, float* out, int64_t outW, int64_t F) {
  switch (F) {
    case 1: directConvRowT<1>(xs, ws, taps, out, outW); break;
    case 2: directConvRowT<2>(xs, ws, taps, out, outW); break;
    case 3: directConvRowT<3>(xs, ws, taps, out, outW); break;
    case 4: directConvRowT<4>(xs, ws, taps, out, outW); break;
    case 5: directConvRowT<5>(xs, ws, taps, out, outW); break;
    case 6: directConvRowT<6>(xs, ws, taps, out, outW); break;
    case 7: directConvRowT<7>(xs, ws, taps, out, outW); break;
    case 8: directConvRowT<8>(xs, ws, taps, out, outW); break;
    default: break;
  }
}

// The filter gradient's share of one output row: for every tap t, acc[t·F + f] (8 lanes) += Σ_ox xs[t][ox]·d[f][ox],
// with d the row's gradient de-interleaved by channel (F runs of `dstride` floats, zero past outW). Lanes past outW
// read no input (masked), so a non-finite pixel there cannot leak into the sums.
template <int F>
void directFilterRowT(const float* const* xs, int64_t taps, const float* d, int64_t dstride, int64_t outW, float* acc) {
  const int64_t full = outW / 8, rest = outW % 8;
  typedef int32_t Int8v __attribute__((vector_size(32)));
  Int8v lane = {0, 1, 2, 3, 4, 5, 6, 7};
  const Int8v keep = lane < static_cast<int32_t>(rest);
  for (int64_t t = 0; t < taps; t++) {
    const float* x = xs[t];
    Vec8 sum[F];
    for (int f = 0; f < F; f++) sum[f] = Vec8{};
    for (int64_t v = 0; v < full; v++) {
      const Vec8 xv = load8(x + 8 * v);
      for (int f = 0; f < F; f++) sum[f] += xv * load8(d + f * dstride + 8 * v);
    }
    if (rest) {
      Vec8 xv = load8(x + 8 * full);
      xv = reinterpret_cast<Vec8>(reinterpret_cast<Int8v>(xv) & keep);
      for (int f = 0; f < F; f++) sum[f] += xv * load8(d + f * dstride + 8 * full);
    }
    float* a = acc + t * F * 8;
    for (int f = 0; f < F; f++) store8(a + 8 * f, load8(a + 8 * f) + sum[f]);
  }
}

void directFilterRowImpl(const float* const* xs, int64_t taps, const float* d, int64_t dstride, int64_t outW, int64_t F, float* a) {
  switch (F) {
    case 1: directFilterRowT<1>(xs, taps, d, dstride, outW, a); break;
    case 2: directFilterRowT<2>(xs, taps, d, dstride, outW, a); break;
    case 3: directFilterRowT<3>(xs, taps, d, dstride, outW, a); break;
    case 4: directFilterRowT<4>(xs, taps, d, dstride, outW, a); break;
    case 5: directFilterRowT<5>(xs, taps, d, dstride, outW, a); break;
    case 6: directFilterRowT<6>(xs, taps, d, dstride, outW, a); break;
    case 7: directFilterRowT<7>(xs, taps, d, dstride, outW, a); break;
    case 8: directFilterRowT<8>(xs, taps, d, dstride, outW, a); break;
    default: break;
  }
}



}  // namespace

