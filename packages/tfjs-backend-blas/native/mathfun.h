// Branch-free float32 exp/log/tanh written so GCC auto-vectorizes the loops that call them
// (libm's scalar expf/tanhf cost ~20 ns per element, which made Tanh a top kernel of a training step).
// No include guard and no namespace on purpose: each instruction-set translation unit includes it inside its own
// namespace (after <cstdint>, <cstring> and <limits>) so every copy is compiled for that unit's target.

static inline float bitsToFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
static inline int32_t floatToBits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// Round to nearest integer for |x| < 2^22 without libm (SSE2 has no vector floor).
static inline float roundNearest(float x) {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  return (x + magic) - magic;
}

// y·2^n for integer-valued n in [-150, 128], via two normal factors so neither overflows nor flushes early.
static inline float scalePow2(float y, float n) {
  float h = roundNearest(n * 0.5f - 0.25f);  // floor(n/2) for integer n
  float l = n - h;
  float a = bitsToFloat((static_cast<int32_t>(h) + 127) << 23);
  float b = bitsToFloat((static_cast<int32_t>(l) + 127) << 23);
  return (y * a) * b;
}

// exp(x), Cephes' polynomial on [-ln2/2, ln2/2]; ~1 ulp. NaN stays NaN, exp(+inf)=inf, exp(-inf)=0.
static inline float expf_(float x) {
  const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  float n = roundNearest(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * (r * r) + r + 1.0f;
  float out = scalePow2(y, n);
  out = x > hi ? std::numeric_limits<float>::infinity() : out;
  out = x < lo ? 0.0f : out;
  return out;
}

// tanh(x) as a 13/6 rational function on [-7.9, 7.9] (beyond it tanh rounds to ±1 in float32); a few ulp.
static inline float tanhf_(float x) {
  const float clampAt = 7.90531110763549805f;
  float xc = x > clampAt ? clampAt : x;
  xc = xc < -clampAt ? -clampAt : xc;
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float t = p / q;
  // tiny |x|: tanh(x) = x to float precision (keeps -0 and denormals exact)
  float ax = x < 0 ? -x : x;
  return ax < 0.0004f ? x : t;
}

// log(x), Cephes' logf; ~1 ulp for normal x. log(0)=-inf, log(x<0)=NaN, log(inf)=inf, NaN stays NaN.
static inline float logf_(float x) {
  // denormals: scale into the normal range first
  bool tiny = x < 1.17549435e-38f;
  float xs = tiny ? x * 8388608.0f : x;  // 2^23
  int32_t bits = floatToBits(xs);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126) - (tiny ? 23.0f : 0.0f);
  float m = bitsToFloat((bits & 0x807fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m + -1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m + -1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m + -1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m + -2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float out = m + y + e * 0.693359375f;
  out = x == 0.0f ? -std::numeric_limits<float>::infinity() : out;
  out = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : out;
  out = x == std::numeric_limits<float>::infinity() ? x : out;
  out = x != x ? x : out;
  return out;
}

