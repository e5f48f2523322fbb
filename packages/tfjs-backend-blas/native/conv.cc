// Convolutions (NHWC input, HWIO filter, dilation 1) through im2col + cblas_sgemm: the forward pass, the input
// gradient and the filter gradient. The patch matrix is built in small chunks that stay in cache while sgemm reads
// them (measured here: ~256 rows of a 3×3×16 patch ran 1.6× faster than one 75 MB patch matrix).
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.h"
#include "napi_util.h"

namespace bioprop {
namespace {

struct ConvGeom {
  int64_t N, H, W, C, kh, kw, F, sh, sw, padTop, padLeft, outH, outW;
  int64_t rows() const { return N * outH * outW; }
  int64_t patch() const { return kh * kw * C; }
  int64_t inSize() const { return N * H * W * C; }
};

// Reads the 13 integers of ConvGeom from info[from..]; false (with an exception) when they are not a valid geometry.
bool readGeom(const Napi::CallbackInfo& info, size_t from, ConvGeom& g) {
  int64_t v[13];
  if (!nums(info, from, 13, v)) return false;
  g = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
  if (g.N < 0 || g.H < 1 || g.W < 1 || g.C < 1 || g.kh < 1 || g.kw < 1 || g.F < 1 || g.sh < 1 || g.sw < 1 || g.outH < 0 ||
      g.outW < 0) {
    return fail(info.Env(), "conv: bad geometry");
  }
  return true;
}

// Rows per chunk of the patch matrix: ~128 KB of patches (cache-resident while sgemm packs them), but at least 8·F
// rows so that packing the [K, F] filter, which sgemm repeats on every call, stays a small share of the work.
int64_t chunkRows(int64_t K, int64_t F, int64_t rows) {
  const int64_t byCache = (int64_t{32} << 10) / std::max<int64_t>(1, K);
  const int64_t byFilter = 8 * F;
  int64_t c = std::max<int64_t>({16, byCache, byFilter});
  c = std::min<int64_t>(c, std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(1, K)));  // ≤ 16 MB of scratch
  return std::max<int64_t>(1, std::min(c, rows));
}

inline void zero(float* d, int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
}
inline void copyRun(float* __restrict d, const float* __restrict s, int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

// Rows [r0, r1) of the patch matrix: row (n, oy, ox) holds x[n, oy·sh − padTop + ky, ox·sw − padLeft + kx, c] in
// (ky, kx, c) order, the filter's HWI order; reads outside the image are zero.
void im2colRows(const ConvGeom& g, const float* x, float* cols, int64_t r0, int64_t r1) {
  const int64_t K = g.patch(), C = g.C, rowLen = g.kw * C;
  int64_t ox = r0 % g.outW, oy = (r0 / g.outW) % g.outH, n = r0 / (g.outW * g.outH);
  for (int64_t r = r0; r < r1; r++) {
    float* dst = cols + (r - r0) * K;
    const int64_t y0 = oy * g.sh - g.padTop, x0 = ox * g.sw - g.padLeft;
    const float* img = x + n * g.H * g.W * C;
    // the kx taps inside the image are one contiguous run of each input row
    const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min<int64_t>(g.kw, g.W - x0);
    for (int64_t ky = 0; ky < g.kh; ky++) {
      const int64_t iy = y0 + ky;
      float* d = dst + ky * rowLen;
      if (iy < 0 || iy >= g.H || kx1 <= kx0) {
        zero(d, rowLen);
        continue;
      }
      zero(d, kx0 * C);
      copyRun(d + kx0 * C, img + (iy * g.W + x0 + kx0) * C, (kx1 - kx0) * C);
      zero(d + kx1 * C, (g.kw - kx1) * C);
    }
    if (++ox == g.outW) {
      ox = 0;
      if (++oy == g.outH) {
        oy = 0;
        n++;
      }
    }
  }
}

// col2im for rows [r0, r1): adds every patch entry back onto the pixel it was read from (padding reads dropped).
void col2imRows(const ConvGeom& g, const float* cols, float* dx, int64_t r0, int64_t r1) {
  const int64_t K = g.patch(), C = g.C;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t ox = r % g.outW, oy = (r / g.outW) % g.outH, n = r / (g.outW * g.outH);
    const float* src = cols + (r - r0) * K;
    const int64_t y0 = oy * g.sh - g.padTop, x0 = ox * g.sw - g.padLeft;
    float* img = dx + n * g.H * g.W * C;
    const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min<int64_t>(g.kw, g.W - x0);
    if (kx1 <= kx0) continue;
    for (int64_t ky = 0; ky < g.kh; ky++) {
      const int64_t iy = y0 + ky;
      if (iy < 0 || iy >= g.H) continue;
      const float* __restrict s = src + (ky * g.kw + kx0) * C;
      float* __restrict d = img + (iy * g.W + x0 + kx0) * C;
      const int64_t len = (kx1 - kx0) * C;
      for (int64_t i = 0; i < len; i++) d[i] += s[i];
    }
  }
}

bool isPointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0 && g.outH == g.H && g.outW == g.W;
}

// ---- direct convolution for few output channels (stride 1 along the width)
//
// With F ≤ 8 output channels sgemm's N dimension is mostly padding and im2col copies runs of a few floats. Instead,
// each input row of one image and channel is copied once into a zero-padded run, row[j] = x[iy, j − padLeft, c], and
// an output row [outW, F] is a sum over the taps (ky, kx, c) of that run shifted by kx times the tap's F weights:
// the kernel keeps each channel's partial sums for 16 output pixels in registers across every tap (see
// kernels_impl.h). The filter gradient takes, per output row, the dot products of the same runs with the row's
// gradient de-interleaved by channel.

bool useDirect(const ConvGeom& g) { return g.sw == 1 && g.F <= 8 && g.C <= 16; }

struct Direct {
  // floats per padded run: outW rounded up to 16, plus kw − 1, plus 16 of slack for the vector loads past the end
  int64_t R;
  explicit Direct(const ConvGeom& g) : R((g.outW + 15) / 16 * 16 + g.kw - 1 + 16) {}
};

// The padded runs of one image, (iy, c) → R floats: row[j] = img[iy, j − padLeft, c], 0 outside the image.
void padRows(const ConvGeom& g, const Direct& d, const float* img, float* rows) {
  for (int64_t iy = 0; iy < g.H; iy++) {
    for (int64_t c = 0; c < g.C; c++) {
      float* row = rows + (iy * g.C + c) * d.R;
      zero(row, d.R);
      const int64_t j0 = std::max<int64_t>(0, g.padLeft), j1 = std::min<int64_t>(d.R, g.padLeft + g.W);
      for (int64_t j = j0; j < j1; j++) row[j] = img[(iy * g.W + (j - g.padLeft)) * g.C + c];
    }
  }
}

// The rows of taps an output row oy reads: ky in [lo, hi) (rows outside the image contribute nothing)
inline void tapRows(const ConvGeom& g, int64_t oy, int64_t& lo, int64_t& hi) {
  const int64_t y0 = oy * g.sh - g.padTop;
  lo = std::max<int64_t>(0, -y0);
  hi = std::min<int64_t>(g.kh, g.H - y0);
  if (hi < lo) hi = lo;
}

void directForward(const ConvGeom& g, const float* x, const float* w, float* out) {
  const Direct d(g);
  const int64_t taps = g.kh * g.kw * g.C;
  float* rows = scratchFloats(static_cast<size_t>(g.H * g.C * d.R), 0);
  std::vector<const float*> xs(static_cast<size_t>(taps)), ws(static_cast<size_t>(taps));
  const auto row = activeKernelTable().directConvRow;
  for (int64_t n = 0; n < g.N; n++) {
    padRows(g, d, x + n * g.H * g.W * g.C, rows);
    for (int64_t oy = 0; oy < g.outH; oy++) {
      int64_t lo, hi, count = 0;
      tapRows(g, oy, lo, hi);
      for (int64_t ky = lo; ky < hi; ky++) {
        const int64_t iy = oy * g.sh - g.padTop + ky;
        for (int64_t kx = 0; kx < g.kw; kx++) {
          for (int64_t c = 0; c < g.C; c++) {
            xs[count] = rows + (iy * g.C + c) * d.R + kx;
            ws[count] = w + ((ky * g.kw + kx) * g.C + c) * g.F;
            count++;
          }
        }
      }
      float* o = out + (n * g.outH + oy) * g.outW * g.F;
      if (count == 0) zero(o, g.outW * g.F);
      else row(xs.data(), ws.data(), count, o, g.outW, g.F);
    }
  }
}

void directFilterGrad(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const Direct d(g);
  const int64_t taps = g.kh * g.kw * g.C, F = g.F;
  const int64_t dstride = (g.outW + 7) / 8 * 8;
  float* rows = scratchFloats(static_cast<size_t>(g.H * g.C * d.R), 0);
  // per (tap, f) 8 float partial sums over one image's rows, then added into double sums image by image
  float* acc = scratchFloats(static_cast<size_t>(taps * F * 8), 1);
  float* drow = scratchFloats(static_cast<size_t>(F * dstride), 2);
  std::vector<double> sums(static_cast<size_t>(taps * F), 0.0);
  std::vector<const float*> xs(static_cast<size_t>(taps));
  const auto row = activeKernelTable().directFilterRow;
  zero(drow, F * dstride);
  for (int64_t n = 0; n < g.N; n++) {
    padRows(g, d, x + n * g.H * g.W * g.C, rows);
    zero(acc, taps * F * 8);
    for (int64_t oy = 0; oy < g.outH; oy++) {
      int64_t lo, hi;
      tapRows(g, oy, lo, hi);
      if (hi <= lo) continue;
      const float* dyr = dy + (n * g.outH + oy) * g.outW * F;
      for (int64_t ox = 0; ox < g.outW; ox++)
        for (int64_t f = 0; f < F; f++) drow[f * dstride + ox] = dyr[ox * F + f];
      // taps of rows [lo, hi) are one run of the (ky, kx, c) order
      int64_t count = 0;
      for (int64_t ky = lo; ky < hi; ky++) {
        const int64_t iy = oy * g.sh - g.padTop + ky;
        for (int64_t kx = 0; kx < g.kw; kx++)
          for (int64_t c = 0; c < g.C; c++) xs[count++] = rows + (iy * g.C + c) * d.R + kx;
      }
      row(xs.data(), count, drow, dstride, g.outW, F, acc + lo * g.kw * g.C * F * 8);
    }
    for (int64_t i = 0; i < taps * F; i++) {
      double s = 0;
      for (int l = 0; l < 8; l++) s += acc[i * 8 + l];
      sums[static_cast<size_t>(i)] += s;
    }
  }
  for (int64_t i = 0; i < taps * F; i++) dw[i] = static_cast<float>(sums[static_cast<size_t>(i)]);
}

// out[N·outH·outW, F] = im2col(x) · w[K, F]
void convForward(const ConvGeom& g, const float* x, const float* w, float* out) {
  const int64_t K = g.patch(), rows = g.rows();
  if (rows == 0) return;
  if (useDirect(g)) {
    directForward(g, x, w, out);
    return;
  }
  // a 1×1 stride-1 unpadded convolution is already a matrix product: x is [N·H·W, C]
  if (isPointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(g.F), static_cast<int>(K), 1.0f, x,
                static_cast<int>(K), w, static_cast<int>(g.F), 0.0f, out, static_cast<int>(g.F));
    return;
  }
  const int64_t chunk = chunkRows(K, g.F, rows);
  float* cols = scratchFloats(static_cast<size_t>(chunk * K), 0);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    im2colRows(g, x, cols, r0, r1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(r1 - r0), static_cast<int>(g.F), static_cast<int>(K), 1.0f,
                cols, static_cast<int>(K), w, static_cast<int>(g.F), 0.0f, out + r0 * g.F, static_cast<int>(g.F));
  }
}

// conv2d(x, filter, out, N, H, W, C, kh, kw, F, sh, sw, padTop, padLeft, outH, outW):
// out[N·outH·outW, F] = im2col(x)[·, kh·kw·C] · filter[kh·kw·C, F]
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *w, *out;
  size_t lx, lw, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, w, lw) || !getF32(info, 2, out, lo)) return env.Undefined();
  ConvGeom g;
  if (!readGeom(info, 3, g)) return env.Undefined();
  if (static_cast<int64_t>(lx) < g.inSize() || static_cast<int64_t>(lw) < g.patch() * g.F || static_cast<int64_t>(lo) < g.rows() * g.F) {
    return fail(env, "conv2d: array too small"), env.Undefined();
  }
  convForward(g, x, w, out);
  return env.Undefined();
}

// conv2dBackpropInput(dy, filter, dx, N, H, W, C, kh, kw, F, sh, sw, padTop, padLeft, outH, outW): dx[N, H, W, C], the
// input gradient of `conv2d` with the same geometry. Stride 1 with an output about the input's size: a forward
// convolution of dy by the flipped filter (its products have kh·kw·F terms, not F). Otherwise cols = dy·filterᵀ in
// chunks, then col2im adds each patch entry back onto its pixel.
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *dy, *w, *dx;
  size_t ldy, lw, ldx;
  if (!getF32(info, 0, dy, ldy) || !getF32(info, 1, w, lw) || !getF32(info, 2, dx, ldx)) return env.Undefined();
  ConvGeom g;
  if (!readGeom(info, 3, g)) return env.Undefined();
  const int64_t K = g.patch(), rows = g.rows();
  if (static_cast<int64_t>(ldy) < rows * g.F || static_cast<int64_t>(lw) < K * g.F || static_cast<int64_t>(ldx) < g.inSize()) {
    return fail(env, "conv2dBackpropInput: array too small"), env.Undefined();
  }
  if (rows == 0) {
    zero(dx, g.inSize());
    return env.Undefined();
  }
  const bool flipped = g.sh == 1 && g.sw == 1 && g.C >= 8 && g.H * g.W * 4 <= g.outH * g.outW * 5 && !isPointwise(g);
  if (flipped) {
    // w'[ky', kx', f, c] = w[kh−1−ky', kw−1−kx', c, f]
    float* wf = scratchFloats(static_cast<size_t>(K * g.F), 1);
    for (int64_t ky = 0; ky < g.kh; ky++) {
      for (int64_t kx = 0; kx < g.kw; kx++) {
        const float* src = w + ((g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)) * g.C * g.F;
        float* dst = wf + (ky * g.kw + kx) * g.F * g.C;
        for (int64_t c = 0; c < g.C; c++) {
          for (int64_t f = 0; f < g.F; f++) dst[f * g.C + c] = src[c * g.F + f];
        }
      }
    }
    const ConvGeom t = {g.N, g.outH, g.outW, g.F, g.kh, g.kw, g.C, 1, 1, g.kh - 1 - g.padTop, g.kw - 1 - g.padLeft, g.H, g.W};
    convForward(t, dy, wf, dx);
    return env.Undefined();
  }
  if (isPointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(g.C), static_cast<int>(g.F), 1.0f, dy,
                static_cast<int>(g.F), w, static_cast<int>(g.F), 0.0f, dx, static_cast<int>(g.C));
    return env.Undefined();
  }
  zero(dx, g.inSize());
  const int64_t chunk = chunkRows(K, g.F, rows);
  float* cols = scratchFloats(static_cast<size_t>(chunk * K), 0);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(r1 - r0), static_cast<int>(K), static_cast<int>(g.F), 1.0f,
                dy + r0 * g.F, static_cast<int>(g.F), w, static_cast<int>(g.F), 0.0f, cols, static_cast<int>(K));
    col2imRows(g, cols, dx, r0, r1);
  }
  return env.Undefined();
}

// conv2dBackpropFilter(x, dy, dw, N, H, W, C, kh, kw, F, sh, sw, padTop, padLeft, outH, outW):
// dw[kh·kw·C, F] = im2col(x)ᵀ · dy[N·outH·outW, F], accumulated chunk by chunk
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *dy, *dw;
  size_t lx, ldy, ldw;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, dy, ldy) || !getF32(info, 2, dw, ldw)) return env.Undefined();
  ConvGeom g;
  if (!readGeom(info, 3, g)) return env.Undefined();
  const int64_t K = g.patch(), rows = g.rows();
  if (static_cast<int64_t>(lx) < g.inSize() || static_cast<int64_t>(ldy) < rows * g.F || static_cast<int64_t>(ldw) < K * g.F) {
    return fail(env, "conv2dBackpropFilter: array too small"), env.Undefined();
  }
  if (rows == 0) {
    zero(dw, K * g.F);
    return env.Undefined();
  }
  if (isPointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(g.F), static_cast<int>(rows), 1.0f, x,
                static_cast<int>(K), dy, static_cast<int>(g.F), 0.0f, dw, static_cast<int>(g.F));
    return env.Undefined();
  }
  if (useDirect(g)) {
    directFilterGrad(g, x, dy, dw);
    return env.Undefined();
  }
  const int64_t chunk = chunkRows(K, g.F, rows);
  float* cols = scratchFloats(static_cast<size_t>(chunk * K), 0);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    im2colRows(g, x, cols, r0, r1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(g.F), static_cast<int>(r1 - r0), 1.0f,
                cols, static_cast<int>(K), dy + r0 * g.F, static_cast<int>(g.F), r0 == 0 ? 0.0f : 1.0f, dw, static_cast<int>(g.F));
  }
  return env.Undefined();
}

// ---- locally connected layers: a convolution without weight sharing, kernel w[P, K, F] (P = outH·outW locations,
// K = kh·kw·C patch entries in the filter's (ky, kx, c) order, F filters), NHWC images, outputs [N, outH, outW, F].
// Each location is one sgemm over the batch: its patches [N, K] are gathered (im2col restricted to that location),
// and its slice of the output or output gradient is read and written in place with a row stride of P·F, so neither
// the patches nor the products are ever transposed.

// The patches of location p for every image of the batch: cols[n, K] (reads outside the image are zero).
void gatherLocation(const ConvGeom& g, const float* x, float* cols, int64_t p) {
  const int64_t P = g.outH * g.outW, K = g.patch();
  for (int64_t n = 0; n < g.N; n++) im2colRows(g, x, cols + n * K, n * P + p, n * P + p + 1);
}

// One call of a locally connected kernel: its three arrays (info[0..2]), the geometry (info[3..15]) and the sizes
// P = outH·outW, K = kh·kw·C, F = filters.
struct LcCall {
  float* a[3];
  ConvGeom g;
  int64_t P, K, F;
};

// Reads a call whose arrays play the roles given, in order: 'x' the image [N, H, W, C], 'w' the kernel [P, K, F], 'y'
// the output or its gradient [N, P, F]. False (with an exception naming the kernel) when an argument is not a
// Float32Array, the geometry is invalid, or an array is smaller than its role needs.
bool readLcCall(const Napi::CallbackInfo& info, const char* kernel, const char (&roles)[4], LcCall& c) {
  size_t len[3];
  for (int i = 0; i < 3; i++) {
    if (!getF32(info, static_cast<size_t>(i), c.a[i], len[i])) return false;
  }
  if (!readGeom(info, 3, c.g)) return false;
  c.P = c.g.outH * c.g.outW;
  c.K = c.g.patch();
  c.F = c.g.F;
  for (int i = 0; i < 3; i++) {
    const int64_t want = roles[i] == 'x' ? c.g.inSize() : roles[i] == 'w' ? c.P * c.K * c.F : c.g.N * c.P * c.F;
    if (static_cast<int64_t>(len[i]) < want) return fail(info.Env(), (std::string(kernel) + ": array too small").c_str());
  }
  return true;
}

// locallyConnected2d(x, w, out, N, H, W, C, kh, kw, F, sh, sw, padTop, padLeft, outH, outW):
// out[n, p, :] = patches(x)[n, p, :] · w[p]
Napi::Value LocallyConnected2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LcCall c;
  if (!readLcCall(info, "locallyConnected2d", "xwy", c)) return env.Undefined();
  const auto [x, w, out] = c.a;
  const ConvGeom& g = c.g;
  const int64_t P = c.P, K = c.K, F = c.F;
  if (g.N == 0 || P == 0) return env.Undefined();
  float* cols = scratchFloats(static_cast<size_t>(g.N * K), 0);
  for (int64_t p = 0; p < P; p++) {
    gatherLocation(g, x, cols, p);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(g.N), static_cast<int>(F), static_cast<int>(K), 1.0f, cols,
                static_cast<int>(K), w + p * K * F, static_cast<int>(F), 0.0f, out + p * F, static_cast<int>(P * F));
  }
  return env.Undefined();
}

// locallyConnected2dBackpropInput(dy, w, dx, geometry…): dx[N, H, W, C], the input gradient of locallyConnected2d:
// per location the patch gradient dy[:, p, :] · w[p]ᵀ, added back onto the pixels the patches were read from.
Napi::Value LocallyConnected2dBackpropInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LcCall c;
  if (!readLcCall(info, "locallyConnected2dBackpropInput", "ywx", c)) return env.Undefined();
  const auto [dy, w, dx] = c.a;
  const ConvGeom& g = c.g;
  const int64_t P = c.P, K = c.K, F = c.F;
  zero(dx, g.inSize());
  if (g.N == 0 || P == 0) return env.Undefined();
  float* cols = scratchFloats(static_cast<size_t>(g.N * K), 0);
  for (int64_t p = 0; p < P; p++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(g.N), static_cast<int>(K), static_cast<int>(F), 1.0f, dy + p * F,
                static_cast<int>(P * F), w + p * K * F, static_cast<int>(F), 0.0f, cols, static_cast<int>(K));
    for (int64_t n = 0; n < g.N; n++) col2imRows(g, cols + n * K, dx, n * P + p, n * P + p + 1);
  }
  return env.Undefined();
}

// locallyConnected2dBackpropFilter(x, dy, dw, geometry…): dw[p] = patches(x)[:, p, :]ᵀ · dy[:, p, :]
Napi::Value LocallyConnected2dBackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LcCall c;
  if (!readLcCall(info, "locallyConnected2dBackpropFilter", "xyw", c)) return env.Undefined();
  const auto [x, dy, dw] = c.a;
  const ConvGeom& g = c.g;
  const int64_t P = c.P, K = c.K, F = c.F;
  if (g.N == 0) {
    zero(dw, P * K * F);
    return env.Undefined();
  }
  float* cols = scratchFloats(static_cast<size_t>(g.N * K), 0);
  for (int64_t p = 0; p < P; p++) {
    gatherLocation(g, x, cols, p);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(F), static_cast<int>(g.N), 1.0f, cols,
                static_cast<int>(K), dy + p * F, static_cast<int>(P * F), 0.0f, dw + p * K * F, static_cast<int>(F));
  }
  return env.Undefined();
}

}  // namespace

void registerConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("locallyConnected2d", Napi::Function::New(env, LocallyConnected2d));
  exports.Set("locallyConnected2dBackpropInput", Napi::Function::New(env, LocallyConnected2dBackpropInput));
  exports.Set("locallyConnected2dBackpropFilter", Napi::Function::New(env, LocallyConnected2dBackpropFilter));
}

}  // namespace bioprop
