// Layer kernels besides convolution: 2-D max/avg pooling and their gradients, constant padding, tile, a fused
// batch-norm forward/backward and the relu gradient. Each reproduces the cpu backend's (or the tf-op path's)
// arithmetic in the same order, so results match it exactly, not merely within rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "napi_util.h"
#include "sums.h"

namespace bioprop {
namespace {

struct PoolGeom {
  int64_t N, H, W, C, fh, fw, sh, sw, padTop, padLeft, outH, outW;
  int64_t inSize() const { return N * H * W * C; }
  int64_t outSize() const { return N * outH * outW * C; }
  bool overlapping() const { return fh > sh || fw > sw; }
};

bool readPool(const Napi::CallbackInfo& info, size_t from, PoolGeom& g) {
  int64_t v[12];
  if (!nums(info, from, 12, v)) return false;
  g = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  if (g.N < 0 || g.H < 1 || g.W < 1 || g.C < 1 || g.fh < 1 || g.fw < 1 || g.sh < 1 || g.sw < 1 || g.outH < 0 || g.outW < 0) {
    return fail(info.Env(), "pool: bad geometry");
  }
  return true;
}

// 2×2 windows, stride 2, no padding: the common case, with loops of its own
inline bool isPlain2x2(const PoolGeom& g) {
  return g.fh == 2 && g.fw == 2 && g.sh == 2 && g.sw == 2 && g.padTop == 0 && g.padLeft == 0 && 2 * g.outH <= g.H && 2 * g.outW <= g.W;
}

// The part of output (oy, ox)'s window inside the image: rows [y0, y1), columns [x0, x1); (wy, wx) is the window's
// top-left corner (negative where it hangs over the padding).
struct Window {
  int64_t wy, wx, y0, y1, x0, x1;
};
inline Window windowAt(const PoolGeom& g, int64_t oy, int64_t ox) {
  const int64_t wy = oy * g.sh - g.padTop, wx = ox * g.sw - g.padLeft;
  return {wy, wx, std::max<int64_t>(0, wy), std::min(g.H, wy + g.fh), std::max<int64_t>(0, wx), std::min(g.W, wx + g.fw)};
}

// An optional Uint8Array argument: the per-output-element index of its window's first maximum (row-major in the
// window; kNoMax when no pixel exceeds −∞), which maxPool records and maxPoolGrad can read instead of x.
constexpr uint8_t kNoMax = 255;

bool getArgmax(const Napi::CallbackInfo& info, size_t i, const PoolGeom& g, uint8_t*& out) {
  out = nullptr;
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return true;
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return fail(info.Env(), "maxPool: argmax must be a Uint8Array");
  }
  auto a = info[i].As<Napi::Uint8Array>();
  if (static_cast<int64_t>(a.ElementLength()) < g.outSize() || g.fh * g.fw >= kNoMax) return fail(info.Env(), "maxPool: bad argmax array");
  out = a.Data();
  return true;
}

// The first strict maximum from −∞ over one output element's window pixels inside the image, in row-major window
// order (the cpu kernel's rule: ties go to the first, NaN never wins): its value and window index (−1 when none).
// Computed for the C channels of output (n, oy, ox) at once.
void windowMax(const PoolGeom& g, const float* img, const Window& w, float* best, int* pos) {
  const int64_t C = g.C;
  for (int64_t c = 0; c < C; c++) {
    best[c] = -std::numeric_limits<float>::infinity();
    pos[c] = -1;
  }
  for (int64_t y = w.y0; y < w.y1; y++) {
    for (int64_t xx = w.x0; xx < w.x1; xx++) {
      const float* __restrict p = img + (y * g.W + xx) * C;
      const int at = static_cast<int>((y - w.wy) * g.fw + (xx - w.wx));
      for (int64_t c = 0; c < C; c++) {
        const bool gt = p[c] > best[c];
        best[c] = gt ? p[c] : best[c];
        pos[c] = gt ? at : pos[c];
      }
    }
  }
}

// 2×2 windows of stride 2 without padding; the window index of each maximum (0 1 / 2 3) too when Record
template <bool Record>
void maxPool2x2(const PoolGeom& g, const float* x, float* out, uint8_t* argmax) {
  const int64_t C = g.C, rowLen = g.W * C;
  for (int64_t n = 0; n < g.N; n++) {
    for (int64_t oy = 0; oy < g.outH; oy++) {
      const float* r0 = x + (n * g.H + 2 * oy) * rowLen;
      const float* r1 = r0 + rowLen;
      const int64_t at = (n * g.outH + oy) * g.outW * C;
      for (int64_t ox = 0; ox < g.outW; ox++) {
        const float* __restrict a = r0 + 2 * ox * C;
        const float* __restrict e = r1 + 2 * ox * C;
        float* __restrict o = out + at + ox * C;
        uint8_t* __restrict am = Record ? argmax + at + ox * C : nullptr;
        for (int64_t c = 0; c < C; c++) {
          float m = -std::numeric_limits<float>::infinity();
          m = a[c] > m ? a[c] : m;
          m = a[C + c] > m ? a[C + c] : m;
          m = e[c] > m ? e[c] : m;
          m = e[C + c] > m ? e[C + c] : m;
          o[c] = m;
        }
        if (Record) {
          // the first strict maximum is the first pixel equal to the maximum (NaN equals nothing; ±0 compare equal
          // and the first of them is the one the strict chain keeps); none when the maximum is −∞. In floats, so
          // the selects vectorize like the max above.
          float pf[64];
          for (int64_t c0 = 0; c0 < C; c0 += 64) {
            const int64_t cn = std::min<int64_t>(64, C - c0);
            for (int64_t c = c0; c < c0 + cn; c++) {
              const float m = o[c];
              float p = e[C + c] == m ? 3.0f : 255.0f;
              p = e[c] == m ? 2.0f : p;
              p = a[C + c] == m ? 1.0f : p;
              p = a[c] == m ? 0.0f : p;
              pf[c - c0] = m > -std::numeric_limits<float>::infinity() ? p : 255.0f;
            }
            for (int64_t c = 0; c < cn; c++) am[c0 + c] = static_cast<uint8_t>(pf[c]);
          }
        }
      }
    }
  }
}

// maxPool(x, out, ...geometry, argmax?): the first maximum of each window's pixels inside the image (NaN skipped, as
// the cpu kernel's `pixel > max` does; −∞ for a window of NaNs), and, when given, where it is (see kNoMax)
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  PoolGeom g;
  uint8_t* argmax;
  if (!readPool(info, 2, g) || !getArgmax(info, 14, g, argmax)) return env.Undefined();
  if (static_cast<int64_t>(lx) < g.inSize() || static_cast<int64_t>(lo) < g.outSize()) return fail(env, "maxPool: array too small"), env.Undefined();
  const int64_t C = g.C;
  if (isPlain2x2(g)) {
    if (argmax) maxPool2x2<true>(g, x, out, argmax);
    else maxPool2x2<false>(g, x, out, nullptr);
    return env.Undefined();
  }
  std::vector<float> best(static_cast<size_t>(C));
  std::vector<int> pos(static_cast<size_t>(C));
  for (int64_t n = 0; n < g.N; n++) {
    const float* img = x + n * g.H * g.W * C;
    for (int64_t oy = 0; oy < g.outH; oy++) {
      for (int64_t ox = 0; ox < g.outW; ox++) {
        const int64_t at = ((n * g.outH + oy) * g.outW + ox) * C;
        windowMax(g, img, windowAt(g, oy, ox), best.data(), pos.data());
        for (int64_t c = 0; c < C; c++) out[at + c] = best[c];
        if (argmax) {
          for (int64_t c = 0; c < C; c++) argmax[at + c] = pos[c] < 0 ? kNoMax : static_cast<uint8_t>(pos[c]);
        }
      }
    }
  }
  return env.Undefined();
}

// The gradient of max pooling, each window's to its first maximum (the cpu kernel's rule). With `pooled` (the pool's
// output) and Relu, also through the relu whose output x is: each routed value times 1_{pooled > 0} (pooled is x at
// the window's maximum, and relu(a) > 0 exactly where a > 0), the same roundings as MaxPoolGrad then ReluGrad.
template <bool Relu>
void maxPoolGradImpl(const PoolGeom& g, const float* dy, const float* x, const float* pooled, float* dx, const uint8_t* argmax) {
  const int64_t C = g.C;
  // relu's factor: dx·1 or dx·0, as its VJP multiplies (so ∞ and NaN gradients come out as the tf-op path's)
  const auto mask = [](float v) { return v > 0.0f ? 1.0f : 0.0f; };
  if (isPlain2x2(g)) {
    // both rows of a window row zeroed, then each window's gradient stored at its maximum: one scattered store per
    // output element instead of four selects (the selects ran at ~1 ns per element, 6× slower than this)
    const int64_t rowLen = g.W * C;
    for (int64_t n = 0; n < g.N; n++) {
      const float* img = x + n * g.H * rowLen;
      float* dimg = dx + n * g.H * rowLen;
      if (g.H > 2 * g.outH) std::fill(dimg + 2 * g.outH * rowLen, dimg + g.H * rowLen, 0.0f);
      for (int64_t oy = 0; oy < g.outH; oy++) {
        float* d0 = dimg + 2 * oy * rowLen;
        std::fill(d0, d0 + 2 * rowLen, 0.0f);
        const int64_t at = (n * g.outH + oy) * g.outW * C;
        // where window element p (0, 1: top row; 2, 3: bottom row) of channel c of window ox lies in the two rows
        const auto target = [&](int64_t ox, int64_t c, int p) { return d0 + (p >> 1) * rowLen + (2 * ox + (p & 1)) * C + c; };
        if (argmax) {
          const uint8_t* __restrict am = argmax + at;
          const float* __restrict gr = dy + at;
          const float* __restrict po = Relu ? pooled + at : nullptr;
          for (int64_t ox = 0; ox < g.outW; ox++) {
            for (int64_t c = 0; c < C; c++) {
              const int64_t o = ox * C + c;
              const uint8_t p = am[o];
              if (p > 3) continue;  // no pixel above −∞: nothing routed
              float v = 0.0f + gr[o];
              if (Relu) v = v * mask(po[o]);
              *target(ox, c, p) = v;
            }
          }
          continue;
        }
        const float* __restrict gr = dy + at;
        for (int64_t ox = 0; ox < g.outW; ox++) {
          const float* __restrict a = img + 2 * oy * rowLen + 2 * ox * C;
          const float* __restrict e = a + rowLen;
          for (int64_t c = 0; c < C; c++) {
            float m = -std::numeric_limits<float>::infinity();
            int p = -1;
            if (a[c] > m) m = a[c], p = 0;
            if (a[C + c] > m) m = a[C + c], p = 1;
            if (e[c] > m) m = e[c], p = 2;
            if (e[C + c] > m) m = e[C + c], p = 3;
            if (p < 0) continue;
            float v = 0.0f + gr[ox * C + c];
            if (Relu) v = v * mask(m);
            *target(ox, c, p) = v;
          }
        }
      }
    }
    return;
  }
  const bool overlap = g.overlapping();
  std::vector<double> acc(overlap ? static_cast<size_t>(g.H * g.W * C) : 0);
  std::vector<float> best(static_cast<size_t>(C));
  std::vector<int> pos(static_cast<size_t>(C));
  for (int64_t n = 0; n < g.N; n++) {
    const float* img = x + n * g.H * g.W * C;
    float* dimg = dx + n * g.H * g.W * C;
    std::fill(dimg, dimg + g.H * g.W * C, 0.0f);
    if (overlap) std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t oy = 0; oy < g.outH; oy++) {
      for (int64_t ox = 0; ox < g.outW; ox++) {
        const Window w = windowAt(g, oy, ox);
        const int64_t at = ((n * g.outH + oy) * g.outW + ox) * C;
        if (argmax) {
          for (int64_t c = 0; c < C; c++) pos[c] = argmax[at + c] == kNoMax ? -1 : argmax[at + c];
        } else {
          windowMax(g, img, w, best.data(), pos.data());
        }
        const float* __restrict d = dy + at;
        for (int64_t c = 0; c < C; c++) {
          if (pos[c] < 0) continue;
          // window index → the pixel's offset in the image
          const int64_t pix = ((w.wy + pos[c] / g.fw) * g.W + (w.wx + pos[c] % g.fw)) * C + c;
          if (overlap) acc[static_cast<size_t>(pix)] += static_cast<double>(d[c]);
          else dimg[pix] = Relu ? (0.0f + d[c]) * mask(img[pix]) : 0.0f + d[c];
        }
      }
    }
    if (overlap) {
      for (int64_t i = 0; i < g.H * g.W * C; i++) {
        const float v = static_cast<float>(acc[static_cast<size_t>(i)]);
        dimg[i] = Relu ? v * mask(img[i]) : v;
      }
    }
  }
}

// maxPoolGrad(dy, x, dx, ...geometry, argmax?): each window's gradient goes to its first maximum in row-major window
// order (the cpu kernel's maxPoolPositions: strict `>`, so ties go to the first; a window with no pixel above −∞
// routes nothing), read from `argmax` when given (maxPool's record for this x), else found in x. Overlapping windows
// add their contributions in double in output order, as the cpu kernel sums them; elsewhere a pixel gets 0 + dy.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *x, *dx;
  size_t ldy, lx, ldx;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, x, lx) || !getF32(info, 2, dx, ldx)) return env.Undefined();
  PoolGeom g;
  uint8_t* argmax;
  if (!readPool(info, 3, g) || !getArgmax(info, 15, g, argmax)) return env.Undefined();
  if (static_cast<int64_t>(ldy) < g.outSize() || static_cast<int64_t>(ldx) < g.inSize() || (!argmax && static_cast<int64_t>(lx) < g.inSize())) {
    return fail(env, "maxPoolGrad: array too small"), env.Undefined();
  }
  maxPoolGradImpl<false>(g, dy, x, nullptr, dx, argmax);
  return env.Undefined();
}

// maxPoolReluGrad(dy, x, pooled, dx, ...geometry, argmax?): the VJP of relu followed by max pooling, from the pool's
// input x (the relu's output) and output: MaxPoolGrad then ReluGrad in one pass over dx
Napi::Value MaxPoolReluGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *x, *pooled, *dx;
  size_t ldy, lx, lp, ldx;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, x, lx) || !getF32(info, 2, pooled, lp) || !getF32(info, 3, dx, ldx)) return env.Undefined();
  PoolGeom g;
  uint8_t* argmax;
  if (!readPool(info, 4, g) || !getArgmax(info, 16, g, argmax)) return env.Undefined();
  if (static_cast<int64_t>(ldy) < g.outSize() || static_cast<int64_t>(lp) < g.outSize() || static_cast<int64_t>(ldx) < g.inSize() ||
      static_cast<int64_t>(lx) < g.inSize()) {
    return fail(env, "maxPoolReluGrad: array too small"), env.Undefined();
  }
  maxPoolGradImpl<true>(g, dy, x, pooled, dx, argmax);
  return env.Undefined();
}

// avgPool(x, out, ...geometry): the mean of each window's pixels inside the image, summed in double and divided by
// their count (the cpu kernel's arithmetic)
Napi::Value AvgPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  PoolGeom g;
  if (!readPool(info, 2, g)) return env.Undefined();
  if (static_cast<int64_t>(lx) < g.inSize() || static_cast<int64_t>(lo) < g.outSize()) return fail(env, "avgPool: array too small"), env.Undefined();
  const int64_t C = g.C;
  std::vector<double> sum(static_cast<size_t>(C));
  for (int64_t n = 0; n < g.N; n++) {
    const float* img = x + n * g.H * g.W * C;
    for (int64_t oy = 0; oy < g.outH; oy++) {
      for (int64_t ox = 0; ox < g.outW; ox++) {
        const Window w = windowAt(g, oy, ox);
        double* __restrict s = sum.data();
        std::fill(s, s + C, 0.0);
        for (int64_t y = w.y0; y < w.y1; y++) {
          for (int64_t xx = w.x0; xx < w.x1; xx++) {
            const float* __restrict p = img + (y * g.W + xx) * C;
            for (int64_t c = 0; c < C; c++) s[c] += p[c];
          }
        }
        // a window wholly in the padding averages nothing: 0/0, NaN, as in the cpu kernel
        const double count = static_cast<double>(std::max<int64_t>(0, w.y1 - w.y0) * std::max<int64_t>(0, w.x1 - w.x0));
        float* __restrict o = out + ((n * g.outH + oy) * g.outW + ox) * C;
        for (int64_t c = 0; c < C; c++) o[c] = static_cast<float>(s[c] / count);
      }
    }
  }
  return env.Undefined();
}

// avgPoolGrad(dy, dx, ...geometry): every pixel gets the sum (double, output order) of the gradients of the windows
// covering it, times 1/(fh·fw): the cpu kernel divides by the full window even where it hangs over the padding
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *dx;
  size_t ldy, ldx;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, dx, ldx)) return env.Undefined();
  PoolGeom g;
  if (!readPool(info, 2, g)) return env.Undefined();
  if (static_cast<int64_t>(ldy) < g.outSize() || static_cast<int64_t>(ldx) < g.inSize()) return fail(env, "avgPoolGrad: array too small"), env.Undefined();
  const int64_t C = g.C, pixels = g.H * g.W * C;
  const double mult = 1.0 / static_cast<double>(g.fh * g.fw);
  std::vector<double> acc(static_cast<size_t>(pixels));
  for (int64_t n = 0; n < g.N; n++) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t oy = 0; oy < g.outH; oy++) {
      for (int64_t ox = 0; ox < g.outW; ox++) {
        const Window w = windowAt(g, oy, ox);
        const float* __restrict d = dy + ((n * g.outH + oy) * g.outW + ox) * C;
        for (int64_t y = w.y0; y < w.y1; y++) {
          for (int64_t xx = w.x0; xx < w.x1; xx++) {
            double* __restrict a = acc.data() + (y * g.W + xx) * C;
            for (int64_t c = 0; c < C; c++) a[c] += d[c];
          }
        }
      }
    }
    float* dimg = dx + n * pixels;
    for (int64_t i = 0; i < pixels; i++) dimg[i] = static_cast<float>(acc[static_cast<size_t>(i)] * mult);
  }
  return env.Undefined();
}

// Row-major strides of dims.
std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
  return s;
}

// pad(x, out, inDims, before, outDims, value): out filled with value, x copied in at offset `before` (PadV2)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  std::vector<int64_t> in, before, outDims;
  if (!getI32Vec(info, 2, in) || !getI32Vec(info, 3, before) || !getI32Vec(info, 4, outDims)) return env.Undefined();
  const float value = static_cast<float>(info[5].As<Napi::Number>().DoubleValue());
  const size_t rank = in.size();
  if (rank == 0 || before.size() != rank || outDims.size() != rank) return fail(env, "pad: bad plan"), env.Undefined();
  int64_t inTotal = 1, outTotal = 1;
  for (size_t d = 0; d < rank; d++) {
    if (in[d] < 0 || before[d] < 0 || outDims[d] < before[d] + in[d]) return fail(env, "pad: bad plan"), env.Undefined();
    inTotal *= in[d];
    outTotal *= outDims[d];
  }
  if (inTotal > static_cast<int64_t>(lx) || outTotal > static_cast<int64_t>(lo)) return fail(env, "pad: out of range"), env.Undefined();
  std::fill(out, out + outTotal, value);
  if (inTotal == 0) return env.Undefined();
  const auto os = stridesOf(outDims);
  const int64_t inner = in[rank - 1], rows = inTotal / inner;
  std::vector<int64_t> idx(rank, 0);
  int64_t base = 0;
  for (size_t d = 0; d < rank; d++) base += before[d] * os[d];
  int64_t off = base;
  for (int64_t r = 0; r < rows; r++) {
    std::copy(x + r * inner, x + (r + 1) * inner, out + off);
    for (size_t d = rank - 1; d-- > 0;) {
      off += os[d];
      if (++idx[d] < in[d]) break;
      off -= idx[d] * os[d];
      idx[d] = 0;
    }
  }
  return env.Undefined();
}

// tile(x, out, inDims, reps): out[i] = x[i mod inDims] along every axis
Napi::Value Tile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  std::vector<int64_t> in, reps;
  if (!getI32Vec(info, 2, in) || !getI32Vec(info, 3, reps)) return env.Undefined();
  const size_t rank = in.size();
  if (rank == 0 || reps.size() != rank) return fail(env, "tile: bad plan"), env.Undefined();
  std::vector<int64_t> outDims(rank);
  int64_t inTotal = 1, outTotal = 1;
  for (size_t d = 0; d < rank; d++) {
    if (in[d] < 0 || reps[d] < 0) return fail(env, "tile: bad plan"), env.Undefined();
    outDims[d] = in[d] * reps[d];
    inTotal *= in[d];
    outTotal *= outDims[d];
  }
  if (inTotal > static_cast<int64_t>(lx) || outTotal > static_cast<int64_t>(lo)) return fail(env, "tile: out of range"), env.Undefined();
  if (outTotal == 0) return env.Undefined();
  const auto is = stridesOf(in);
  const int64_t inner = in[rank - 1], outInner = outDims[rank - 1], rows = outTotal / outInner;
  std::vector<int64_t> idx(rank, 0);
  int64_t src = 0;
  for (int64_t r = 0; r < rows; r++) {
    float* o = out + r * outInner;
    const float* s = x + src;
    for (int64_t k = 0; k < reps[rank - 1]; k++) std::copy(s, s + inner, o + k * inner);
    for (size_t d = rank - 1; d-- > 0;) {
      ++idx[d];
      // the input index along d wraps every in[d] steps of the output index
      if (idx[d] % in[d] == 0) src -= (in[d] - 1) * is[d];
      else src += is[d];
      if (idx[d] < outDims[d]) break;
      // the input index wrapped to 0 with it (outDims[d] is a multiple of in[d])
      idx[d] = 0;
    }
  }
  return env.Undefined();
}

// Per-channel sums over the rows of [M, C] in double, in the blas Sum/Mean kernel's order: one accumulator per
// channel walking the rows, or, for a single channel, four interleaved accumulators (its contiguous-row loop).
// term(r, c) is the float added for element (r, c); its product, if any, is rounded to float before the sum.
double sumSingle(const float* __restrict v, int64_t M) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= M; k += 4) {
    s0 += v[k];
    s1 += v[k + 1];
    s2 += v[k + 2];
    s3 += v[k + 3];
  }
  for (; k < M; k++) s0 += v[k];
  return s0 + s1 + s2 + s3;
}

// acc[c] = Σ_r x[r, c]
void sumRows(const float* __restrict x, int64_t M, int64_t C, double* __restrict acc) {
  if (C == 1) {
    acc[0] = sumSingle(x, M);
    return;
  }
  if (C < kPeriodicSumChannels) {
    periodicColumnSums(M, C, acc, [x](int64_t i, int64_t) { return x[i]; });
    return;
  }
  for (int64_t c = 0; c < C; c++) acc[c] = 0.0;
  for (int64_t r = 0; r < M; r++) {
    const float* __restrict row = x + r * C;
    for (int64_t c = 0; c < C; c++) acc[c] += static_cast<double>(row[c]);
  }
}

// A per-channel constant tiled along one run of periodicColumnSums (k rows of C channels).
void tileChannels(const float* v, int64_t C, float* tiled) {
  const int64_t P = ((32 + C - 1) / C) * C;
  for (int64_t j = 0; j < P; j++) tiled[j] = v[j % C];
}

// acc[c] = Σ_r fl(fl(x[r, c] − mean[c])²): the tf-op path's mean(square(x − mean))
void sumSquaredDeviations(const float* __restrict x, const float* __restrict mean, int64_t M, int64_t C, double* __restrict acc, float* __restrict tmp) {
  if (C == 1) {
    // four accumulators over the rows (the single-channel reduce order), in blocks of the squared deviations
    double s[4] = {0, 0, 0, 0};
    const int64_t B = 4096, body = (M / 4) * 4;
    int64_t k = 0;
    for (int64_t b0 = 0; b0 < M; b0 += B) {
      const int64_t b1 = std::min(M, b0 + B);
      for (int64_t i = b0; i < b1; i++) {
        const float d = x[i] - mean[0];
        tmp[i - b0] = d * d;
      }
      // the reduce loop adds term k to s[k % 4] for k below the last multiple of 4, the tail to s0
      for (int64_t i = b0; i < b1; i++, k++) {
        if (k < body) s[k & 3] += tmp[i - b0];
        else s[0] += tmp[i - b0];
      }
    }
    acc[0] = s[0] + s[1] + s[2] + s[3];
    return;
  }
  if (C < kPeriodicSumChannels) {
    float m[32 + kPeriodicSumChannels];
    tileChannels(mean, C, m);
    periodicColumnSums(M, C, acc, [x, &m](int64_t i, int64_t j) {
      const float d = x[i] - m[j];
      return d * d;
    });
    return;
  }
  for (int64_t c = 0; c < C; c++) acc[c] = 0.0;
  for (int64_t r = 0; r < M; r++) {
    const float* __restrict row = x + r * C;
    for (int64_t c = 0; c < C; c++) {
      const float d = row[c] - mean[c];
      acc[c] += static_cast<double>(d * d);
    }
  }
}

// acc[c] = Σ_r fl(a[r, c]·b[r, c])
void sumProducts(const float* __restrict a, const float* __restrict b, int64_t M, int64_t C, double* __restrict acc, float* __restrict tmp) {
  if (C == 1) {
    double s[4] = {0, 0, 0, 0};
    const int64_t B = 4096, body = (M / 4) * 4;
    int64_t k = 0;
    for (int64_t b0 = 0; b0 < M; b0 += B) {
      const int64_t b1 = std::min(M, b0 + B);
      for (int64_t i = b0; i < b1; i++) tmp[i - b0] = a[i] * b[i];
      for (int64_t i = b0; i < b1; i++, k++) {
        if (k < body) s[k & 3] += tmp[i - b0];
        else s[0] += tmp[i - b0];
      }
    }
    acc[0] = s[0] + s[1] + s[2] + s[3];
    return;
  }
  if (C < kPeriodicSumChannels) {
    periodicColumnSums(M, C, acc, [a, b](int64_t i, int64_t) { return a[i] * b[i]; });
    return;
  }
  for (int64_t c = 0; c < C; c++) acc[c] = 0.0;
  for (int64_t r = 0; r < M; r++) {
    const float* __restrict ra = a + r * C;
    const float* __restrict rb = b + r * C;
    for (int64_t c = 0; c < C; c++) acc[c] += static_cast<double>(ra[c] * rb[c]);
  }
}

// On FMA targets GCC contracts a·b + c by default in C++; these loops must round the product first (x86-64 here is
// compiled without FMA, so only other targets need the attribute, which also blocks inlining into them).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__x86_64__)
#define BIOPROP_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define BIOPROP_NO_CONTRACT
#endif

// x̂ = (x − mean)·invStd, y = x̂·γ + β over the rows of [M, C]
BIOPROP_NO_CONTRACT void normalizeRows(const float* __restrict x, const float* __restrict mean, const float* __restrict invStd,
                                       const float* __restrict gamma, const float* __restrict beta, float* __restrict xhat,
                                       float* __restrict y, int64_t M, int64_t C) {
  for (int64_t r = 0; r < M; r++) {
    const float* __restrict xr = x + r * C;
    float* __restrict hr = xhat + r * C;
    float* __restrict yr = y + r * C;
    for (int64_t c = 0; c < C; c++) {
      const float h = (xr[c] - mean[c]) * invStd[c];
      const float s = h * gamma[c];
      hr[c] = h;
      yr[c] = s + beta[c];
    }
  }
}

// dx = k·((dy − mb) − x̂·mg) over the rows of [M, C]
BIOPROP_NO_CONTRACT void batchNormDx(const float* __restrict dy, const float* __restrict xhat, const float* __restrict k,
                                     const float* __restrict mb, const float* __restrict mg, float* __restrict dx, int64_t M, int64_t C) {
  for (int64_t r = 0; r < M; r++) {
    const float* __restrict g = dy + r * C;
    const float* __restrict h = xhat + r * C;
    float* __restrict o = dx + r * C;
    for (int64_t c = 0; c < C; c++) {
      const float t1 = g[c] - mb[c];
      const float t2 = h[c] * mg[c];
      o[c] = k[c] * (t1 - t2);
    }
  }
}

// batchNormTrain(x, gamma, beta, y, xhat, mean, variance, invStd, M, C, epsilon): batch norm over the rows of
// [M, C] with the batch's statistics, every operation rounded as core's tf-op path rounds it on this backend:
// mean = Σx/M, variance = Σ(x − mean)²/M (sums in double), invStd = 1/√(variance + ε), x̂ = (x − mean)·invStd,
// y = x̂·γ + β (no fused multiply-add)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* a[8];
  size_t l[8];
  for (size_t i = 0; i < 8; i++) {
    if (!getF32(info, i, a[i], l[i])) return env.Undefined();
  }
  int64_t mc[2];
  if (!nums(info, 8, 2, mc)) return env.Undefined();
  const int64_t M = mc[0], C = mc[1];
  if (!info[10].IsNumber()) return fail(env, "batchNormTrain: expected a numeric epsilon"), env.Undefined();
  const float eps = static_cast<float>(info[10].As<Napi::Number>().DoubleValue());
  if (M < 1 || C < 1) return fail(env, "batchNormTrain: bad shape"), env.Undefined();
  const size_t full = static_cast<size_t>(M * C), ch = static_cast<size_t>(C);
  const size_t need[8] = {full, ch, ch, full, full, ch, ch, ch};
  for (size_t i = 0; i < 8; i++) {
    if (l[i] < need[i]) return fail(env, "batchNormTrain: array too small"), env.Undefined();
  }
  const float *x = a[0], *gamma = a[1], *beta = a[2];
  float *y = a[3], *xhat = a[4], *mean = a[5], *var = a[6], *invStd = a[7];
  std::vector<double> acc(ch);
  std::vector<float> tmp(C == 1 ? 4096 : 0);
  const double scale = 1.0 / static_cast<double>(M);
  sumRows(x, M, C, acc.data());
  for (int64_t c = 0; c < C; c++) mean[c] = static_cast<float>(acc[c] * scale);
  sumSquaredDeviations(x, mean, M, C, acc.data(), tmp.data());
  for (int64_t c = 0; c < C; c++) {
    var[c] = static_cast<float>(acc[c] * scale);
    invStd[c] = 1.0f / std::sqrt(var[c] + eps);
  }
  normalizeRows(x, mean, invStd, gamma, beta, xhat, y, M, C);
  return env.Undefined();
}

// batchNormGrad(dy, xhat, gamma, invStd, dx, dGamma, dBeta, M, C): the training-mode VJP as core's tf-op path
// computes it: dβ = Σdy, dγ = Σ dy·x̂ (double sums), dx = (γ·invStd)·((dy − dβ/M) − x̂·(dγ/M))
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* a[7];
  size_t l[7];
  for (size_t i = 0; i < 7; i++) {
    if (!getF32(info, i, a[i], l[i])) return env.Undefined();
  }
  int64_t mc[2];
  if (!nums(info, 7, 2, mc)) return env.Undefined();
  const int64_t M = mc[0], C = mc[1];
  if (M < 1 || C < 1) return fail(env, "batchNormGrad: bad shape"), env.Undefined();
  const size_t full = static_cast<size_t>(M * C), ch = static_cast<size_t>(C);
  const size_t need[7] = {full, full, ch, ch, full, ch, ch};
  for (size_t i = 0; i < 7; i++) {
    if (l[i] < need[i]) return fail(env, "batchNormGrad: array too small"), env.Undefined();
  }
  const float *dy = a[0], *xhat = a[1], *gamma = a[2], *invStd = a[3];
  float *dx = a[4], *dGamma = a[5], *dBeta = a[6];
  std::vector<double> acc(ch);
  std::vector<float> tmp(C == 1 ? 4096 : 0);
  sumRows(dy, M, C, acc.data());
  for (int64_t c = 0; c < C; c++) dBeta[c] = static_cast<float>(acc[c]);
  sumProducts(dy, xhat, M, C, acc.data(), tmp.data());
  for (int64_t c = 0; c < C; c++) dGamma[c] = static_cast<float>(acc[c]);
  const float m = static_cast<float>(M);
  std::vector<float> k(ch), mb(ch), mg(ch);
  for (int64_t c = 0; c < C; c++) {
    k[c] = gamma[c] * invStd[c];
    mb[c] = dBeta[c] / m;
    mg[c] = dGamma[c] / m;
  }
  batchNormDx(dy, xhat, k.data(), mb.data(), mg.data(), dx, M, C);
  return env.Undefined();
}

// reluGrad(dy, x, out): dy·1_{x>0}, i.e. dy·1 or dy·0 (so −0, NaN and ∞·0 come out as the tf-op path's mul gives)
Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *x, *out;
  size_t ldy, lx, lo;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, x, lx) || !getF32(info, 2, out, lo)) return env.Undefined();
  if (lx != ldy || lo < ldy) return fail(env, "reluGrad: arrays differ in length"), env.Undefined();
  const int64_t n = static_cast<int64_t>(ldy);
  for (int64_t i = 0; i < n; i++) out[i] = dy[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
  return env.Undefined();
}

// tanhGrad(dy, y, out): dy·(1 − y²) with tanh's output y, rounded as the tf-op path's square, sub and mul
BIOPROP_NO_CONTRACT void tanhGradLoop(const float* __restrict dy, const float* __restrict y, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float sq = y[i] * y[i];
    const float d = 1.0f - sq;
    out[i] = dy[i] * d;
  }
}

Napi::Value TanhGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *y, *out;
  size_t ldy, ly, lo;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, y, ly) || !getF32(info, 2, out, lo)) return env.Undefined();
  if (ly != ldy || lo < ldy) return fail(env, "tanhGrad: arrays differ in length"), env.Undefined();
  if (ldy > 0 && ((out < dy + ldy && dy < out + ldy) || (out < y + ldy && y < out + ldy))) {
    return fail(env, "tanhGrad: the output overlaps an input"), env.Undefined();
  }
  tanhGradLoop(dy, y, out, static_cast<int64_t>(ldy));
  return env.Undefined();
}

}  // namespace

void registerNn(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("maxPoolReluGrad", Napi::Function::New(env, MaxPoolReluGrad));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("pad", Napi::Function::New(env, Pad));
  exports.Set("tile", Napi::Function::New(env, Tile));
  exports.Set("batchNormTrain", Napi::Function::New(env, BatchNormTrain));
  exports.Set("batchNormGrad", Napi::Function::New(env, BatchNormGrad));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("tanhGrad", Napi::Function::New(env, TanhGrad));
}

}  // namespace bioprop
