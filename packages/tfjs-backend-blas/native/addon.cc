// N-API addon behind @bioprop/tfjs-backend-blas: OpenBLAS sgemm plus float32 elementwise, reduction,
// softmax and transpose loops. The TypeScript side validates shapes and plans broadcasts; every entry point
// here still checks that each index it will touch lies inside the arrays it was given (memory safety).
#include <napi.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"
#include "sums.h"

using namespace bioprop;

namespace {
bool hasAvx2();
const KernelTable* activeKernels;
}  // namespace

const KernelTable& bioprop::activeKernelTable() {
  if (!activeKernels) {
#if defined(__x86_64__) && defined(__GNUC__)
    activeKernels = hasAvx2() ? &avx2::table : &base::table;
#else
    activeKernels = &base::table;
#endif
  }
  return *activeKernels;
}

namespace {


// ---------------------------------------------------------------------------------------------
// Matrix multiply

// sgemmBatched(transA, transB, M, N, K, a, b, out, batch, aOffsets|null, bOffsets|null)
// out[i] (M×N, row-major) = op(A_i)·op(B_i); A_i starts at a + aOffsets[i] (or i·M·K), likewise B_i.
Napi::Value SgemmBatched(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool transA = info[0].As<Napi::Boolean>().Value();
  bool transB = info[1].As<Napi::Boolean>().Value();
  int64_t M = num(info, 2), N = num(info, 3), K = num(info, 4);
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!getF32(info, 5, a, la) || !getF32(info, 6, b, lb) || !getF32(info, 7, c, lc)) return env.Undefined();
  int64_t batch = num(info, 8);
  std::vector<int64_t> aOff, bOff;
  bool hasAOff = !info[9].IsNull() && !info[9].IsUndefined();
  bool hasBOff = !info[10].IsNull() && !info[10].IsUndefined();
  if (hasAOff && !getI32Vec(info, 9, aOff)) return env.Undefined();
  if (hasBOff && !getI32Vec(info, 10, bOff)) return env.Undefined();
  if (M < 0 || N < 0 || K < 0 || batch < 0) return fail(env, "sgemm: negative size"), env.Undefined();
  if (static_cast<int64_t>(lc) < batch * M * N) return fail(env, "sgemm: output too small"), env.Undefined();
  if ((hasAOff && static_cast<int64_t>(aOff.size()) < batch) || (hasBOff && static_cast<int64_t>(bOff.size()) < batch)) {
    return fail(env, "sgemm: offsets shorter than batch"), env.Undefined();
  }
  for (int64_t i = 0; i < batch; i++) {
    int64_t ao = hasAOff ? aOff[i] : i * M * K;
    int64_t bo = hasBOff ? bOff[i] : i * K * N;
    if (ao < 0 || bo < 0 || ao + M * K > static_cast<int64_t>(la) || bo + K * N > static_cast<int64_t>(lb)) {
      return fail(env, "sgemm: operand out of range"), env.Undefined();
    }
  }
  if (M == 0 || N == 0) return env.Undefined();
  if (K == 0) {
    std::fill(c, c + batch * M * N, 0.0f);
    return env.Undefined();
  }
  int lda = static_cast<int>(transA ? M : K);
  int ldb = static_cast<int>(transB ? K : N);
  // B shared by every batch and A not transposed: the batches stack into one taller product
  bool stackable = batch > 1 && !transA && hasBOff && !hasAOff;
  if (stackable) {
    for (int64_t i = 1; i < batch && stackable; i++) stackable = bOff[i] == bOff[0];
  }
  if (stackable) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, static_cast<int>(batch * M),
                static_cast<int>(N), static_cast<int>(K), 1.0f, a, lda, b + bOff[0], ldb, 0.0f, c, static_cast<int>(N));
    return env.Undefined();
  }
  for (int64_t i = 0; i < batch; i++) {
    int64_t ao = hasAOff ? aOff[i] : i * M * K;
    int64_t bo = hasBOff ? bOff[i] : i * K * N;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0f, a + ao, lda, b + bo, ldb, 0.0f,
                c + i * M * N, static_cast<int>(N));
  }
  return env.Undefined();
}

// sgemmPeak(n, reps): best GFLOP/s of an n×n×n sgemm over `reps` timed runs (after one warm-up).
Napi::Value SgemmPeak(const Napi::CallbackInfo& info) {
  int n = static_cast<int>(num(info, 0));
  int reps = static_cast<int>(num(info, 1));
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); i++) {
    a[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    b[i] = static_cast<float>((i * 104729) % 1000) / 1000.0f - 0.5f;
  }
  double best = 0;
  for (int r = 0; r <= reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::max(best, 2.0 * n * n * static_cast<double>(n) / s / 1e9);
  }
  return Napi::Number::New(info.Env(), best);
}

// ---------------------------------------------------------------------------------------------
// Elementwise binary ops with broadcasting

bool hasAvx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// The kernel set in use: AVX2+FMA when the CPU has both, the baseline otherwise (tests switch to compare both).
const KernelTable& kernels() { return activeKernelTable(); }

struct BroadcastPlan {
  std::vector<int64_t> dims, as, bs;  // collapsed output dims; element strides of a and b (0 = broadcast)
  int64_t total() const {
    int64_t t = 1;
    for (auto d : dims) t *= d;
    return t;
  }
};

// Runs rows [r0, r1) of the plan; a row is the innermost dimension.
template <class T, class Row>
void binaryRows(const BroadcastPlan& p, const float* a, const float* b, T* out, int64_t r0, int64_t r1, Row rowFn) {
  const size_t rank = p.dims.size();
  const int64_t inner = p.dims[rank - 1];
  const int sa = p.as[rank - 1] != 0, sb = p.bs[rank - 1] != 0;
  std::vector<int64_t> idx(rank, 0);
  int64_t ao = 0, bo = 0;
  // position the odometer at row r0
  int64_t rem = r0;
  for (size_t d = rank - 1; d-- > 0;) {
    idx[d] = rem % p.dims[d];
    rem /= p.dims[d];
    ao += idx[d] * p.as[d];
    bo += idx[d] * p.bs[d];
  }
  for (int64_t r = r0; r < r1; r++) {
    rowFn(a + ao, b + bo, out + r * inner, inner, sa, sb);
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d]++;
      ao += p.as[d];
      bo += p.bs[d];
      if (idx[d] < p.dims[d]) break;
      ao -= idx[d] * p.as[d];
      bo -= idx[d] * p.bs[d];
      idx[d] = 0;
    }
  }
}

template <class T, class Row>
void runBinary(const BroadcastPlan& p, const float* a, const float* b, T* out, Row rowFn) {
  const int64_t inner = p.dims.back();
  const int64_t rows = p.total() / std::max<int64_t>(inner, 1);
  if (inner == 0 || rows == 0) return;
  // [rows, inner] with one operand a short row repeated (a bias of a few channels): tile that row into a block of
  // whole rows and run the block as one same-shape row, instead of one short row at a time
  if (p.dims.size() == 2 && inner < 64 && rows > 1) {
    const bool bRepeats = p.as[0] == inner && p.as[1] == 1 && p.bs[0] == 0 && p.bs[1] == 1;
    const bool aRepeats = p.bs[0] == inner && p.bs[1] == 1 && p.as[0] == 0 && p.as[1] == 1;
    if (aRepeats || bRepeats) {
      const int64_t per = std::max<int64_t>(1, 256 / inner), block = per * inner;
      float tiled[512];
      const float* row = aRepeats ? a : b;
      for (int64_t i = 0; i < block; i++) tiled[i] = row[i % inner];
      parallelFor(rows / per, block, [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; g++) {
          const int64_t at = g * block;
          if (aRepeats) rowFn(tiled, b + at, out + at, block, 1, 1);
          else rowFn(a + at, tiled, out + at, block, 1, 1);
        }
      });
      const int64_t done = (rows / per) * per;
      if (done < rows) binaryRows(p, a, b, out, done, rows, rowFn);
      return;
    }
  }
  parallelFor(rows, inner, [&](int64_t r0, int64_t r1) { binaryRows(p, a, b, out, r0, r1, rowFn); });
}

// binary(op, a, b, out, dims, aStrides, bStrides); out is a Float32Array, or a Uint8Array for comparisons.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = static_cast<int>(num(info, 0));
  float *a, *b;
  size_t la, lb;
  if (!getF32(info, 1, a, la) || !getF32(info, 2, b, lb)) return env.Undefined();
  BroadcastPlan p;
  if (!getI32Vec(info, 4, p.dims) || !getI32Vec(info, 5, p.as) || !getI32Vec(info, 6, p.bs)) return env.Undefined();
  if (p.dims.empty() || p.as.size() != p.dims.size() || p.bs.size() != p.dims.size()) {
    return fail(env, "binary: bad plan"), env.Undefined();
  }
  int64_t amax = 0, bmax = 0;
  for (size_t d = 0; d < p.dims.size(); d++) {
    if (p.dims[d] < 0 || p.as[d] < 0 || p.bs[d] < 0) return fail(env, "binary: bad plan"), env.Undefined();
    if (p.dims[d] == 0) return env.Undefined();
    amax += (p.dims[d] - 1) * p.as[d];
    bmax += (p.dims[d] - 1) * p.bs[d];
  }
  // the innermost dimension must be contiguous or broadcast (binaryRow assumes stride 1 or 0)
  if (p.as.back() > 1 || p.bs.back() > 1) return fail(env, "binary: bad plan"), env.Undefined();
  if (amax >= static_cast<int64_t>(la) || bmax >= static_cast<int64_t>(lb)) return fail(env, "binary: input out of range"), env.Undefined();
  const int64_t total = p.total();
  bool compare = op >= GREATER;
  if (compare) {
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      return fail(env, "binary: comparison output must be a Uint8Array"), env.Undefined();
    }
    auto o = info[3].As<Napi::Uint8Array>();
    if (static_cast<int64_t>(o.ElementLength()) < total) return fail(env, "binary: output too small"), env.Undefined();
    if (op > NOT_EQUAL) return fail(env, "binary: unknown op"), env.Undefined();
    const auto cmp = kernels().compareRow;
    runBinary(p, a, b, o.Data(), [op, cmp](const float* x, const float* y, uint8_t* z, int64_t n, int sa, int sb) { cmp(op, x, y, z, n, sa, sb); });
    return env.Undefined();
  }
  float* out;
  size_t lo;
  if (!getF32(info, 3, out, lo)) return env.Undefined();
  if (static_cast<int64_t>(lo) < total) return fail(env, "binary: output too small"), env.Undefined();
  if (op < ADD || op > SQDIFF) return fail(env, "binary: unknown op"), env.Undefined();
  const auto bin = kernels().binaryRow;
  runBinary(p, a, b, out, [op, bin](const float* x, const float* y, float* z, int64_t n, int sa, int sb) { bin(op, x, y, z, n, sa, sb); });
  return env.Undefined();
}

// addN(inputs[], out): out = Σ inputs, all the same length
Napi::Value AddN(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) return fail(env, "addN: expected an array"), env.Undefined();
  auto arr = info[0].As<Napi::Array>();
  float* out;
  size_t lo;
  if (!getF32(info, 1, out, lo)) return env.Undefined();
  std::vector<const float*> ins;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      return fail(env, "addN: expected Float32Arrays"), env.Undefined();
    }
    auto f = v.As<Napi::Float32Array>();
    if (f.ElementLength() < lo) return fail(env, "addN: input too small"), env.Undefined();
    ins.push_back(f.Data());
  }
  if (ins.empty()) return env.Undefined();
  const int64_t n = static_cast<int64_t>(lo);
  parallelFor(n, 1, [&](int64_t s, int64_t e) {
    float* __restrict o = out;
    const float* __restrict i0 = ins[0];
    for (int64_t i = s; i < e; i++) o[i] = i0[i];
    for (size_t k = 1; k < ins.size(); k++) {
      const float* __restrict ik = ins[k];
      for (int64_t i = s; i < e; i++) o[i] += ik[i];
    }
  });
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Unary ops

// unary(op, x, out, alpha, beta); out may alias x. alpha: LeakyRelu slope, Clip min, Step alpha; beta: Clip max.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = static_cast<int>(num(info, 0));
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 1, x, lx) || !getF32(info, 2, out, lo)) return env.Undefined();
  if (lo < lx) return fail(env, "unary: output too small"), env.Undefined();
  const double alpha = info[3].As<Napi::Number>().DoubleValue();
  const float beta = static_cast<float>(info[4].As<Napi::Number>().DoubleValue());
  if (op < TANH || op > STEP) return fail(env, "unary: unknown op"), env.Undefined();
  const int64_t n = static_cast<int64_t>(lx);
  // transcendental ops cost several times a load-store: worth splitting across threads sooner
  const int64_t cost = (op == TANH || op == SIGMOID || op == EXP || op == ELU || op == LOG) ? 8 : 1;
  const auto fn = kernels().unaryRange;
  parallelFor(n, cost, [&](int64_t s, int64_t e) { fn(op, x, out, s, e, alpha, beta); });
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Reductions over the middle axis of [outer, r, inner]

enum ReduceOp { R_SUM, R_MEAN, R_MAX, R_MIN };

// reduce(op, x, out, outer, r, inner): out[o, i] = op over k of x[o, k, i]; sums accumulate in double.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = static_cast<int>(num(info, 0));
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 1, x, lx) || !getF32(info, 2, out, lo)) return env.Undefined();
  const int64_t outer = num(info, 3), r = num(info, 4), inner = num(info, 5);
  if (outer < 0 || r < 1 || inner < 0) return fail(env, "reduce: bad shape"), env.Undefined();
  if (outer * r * inner > static_cast<int64_t>(lx) || outer * inner > static_cast<int64_t>(lo)) {
    return fail(env, "reduce: out of range"), env.Undefined();
  }
  if (outer == 0 || inner == 0) return env.Undefined();
  const bool sum = op == R_SUM || op == R_MEAN;
  const double scale = op == R_MEAN ? 1.0 / static_cast<double>(r) : 1.0;
  if (inner == 1) {
    // contiguous rows
    parallelFor(outer, r, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; o++) {
        const float* row = x + o * r;
        if (sum) {
          // four double accumulators: vectorizes and keeps cpu-backend (double) accuracy
          double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          int64_t k = 0;
          for (; k + 4 <= r; k += 4) {
            s0 += row[k];
            s1 += row[k + 1];
            s2 += row[k + 2];
            s3 += row[k + 3];
          }
          for (; k < r; k++) s0 += row[k];
          out[o] = static_cast<float>((s0 + s1 + s2 + s3) * scale);
        } else {
          float m = row[0];
          bool nan = m != m;
          for (int64_t k = 1; k < r; k++) {
            float v = row[k];
            nan |= v != v;
            m = op == R_MAX ? (v > m ? v : m) : (v < m ? v : m);
          }
          out[o] = nan ? NAN : m;
        }
      }
    });
    return env.Undefined();
  }
  // a few columns: summed as flat runs of several rows (one short row at a time does not vectorize)
  if (sum && inner < kPeriodicSumChannels) {
    std::vector<double> acc(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; o++) {
      const float* base = x + o * r * inner;
      periodicColumnSums(r, inner, acc.data(), [base](int64_t i, int64_t) { return base[i]; });
      for (int64_t i = 0; i < inner; i++) out[o * inner + i] = static_cast<float>(acc[i] * scale);
    }
    return env.Undefined();
  }
  // strided: accumulate whole rows of `inner` values
  parallelFor(inner, outer * r, [&](int64_t i0, int64_t i1) {
    const int64_t w = i1 - i0;
    std::vector<double> acc(sum ? w : 0);
    std::vector<float> m(sum ? 0 : w);
    std::vector<uint8_t> nan(sum ? 0 : w);
    for (int64_t o = 0; o < outer; o++) {
      const float* base = x + o * r * inner + i0;
      if (sum) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double* __restrict a = acc.data();
        for (int64_t k = 0; k < r; k++) {
          const float* __restrict row = base + k * inner;
          for (int64_t i = 0; i < w; i++) a[i] += row[i];
        }
        for (int64_t i = 0; i < w; i++) out[o * inner + i0 + i] = static_cast<float>(a[i] * scale);
      } else {
        float* __restrict mm = m.data();
        uint8_t* __restrict nn = nan.data();
        for (int64_t i = 0; i < w; i++) {
          mm[i] = base[i];
          nn[i] = base[i] != base[i];
        }
        for (int64_t k = 1; k < r; k++) {
          const float* __restrict row = base + k * inner;
          if (op == R_MAX) {
            for (int64_t i = 0; i < w; i++) {
              float v = row[i];
              nn[i] |= v != v;
              mm[i] = v > mm[i] ? v : mm[i];
            }
          } else {
            for (int64_t i = 0; i < w; i++) {
              float v = row[i];
              nn[i] |= v != v;
              mm[i] = v < mm[i] ? v : mm[i];
            }
          }
        }
        for (int64_t i = 0; i < w; i++) out[o * inner + i0 + i] = nn[i] ? NAN : mm[i];
      }
    }
  });
  return env.Undefined();
}

// softmax(x, out, rows, cols, log): softmax (or log-softmax) of each contiguous row
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  const int64_t rows = num(info, 2), cols = num(info, 3);
  const bool logOut = info[4].As<Napi::Boolean>().Value();
  if (rows < 0 || cols < 1 || rows * cols > static_cast<int64_t>(lx) || rows * cols > static_cast<int64_t>(lo)) {
    return fail(env, "softmax: out of range"), env.Undefined();
  }
  const auto fn = kernels().softmaxRow;
  parallelFor(rows, cols * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) fn(x + r * cols, out + r * cols, cols, logOut);
  });
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Transpose

// transpose(x, out, inDims, perm): inDims and perm collapsed by the caller (rank ≥ 2)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *out;
  size_t lx, lo;
  if (!getF32(info, 0, x, lx) || !getF32(info, 1, out, lo)) return env.Undefined();
  std::vector<int64_t> dims, perm;
  if (!getI32Vec(info, 2, dims) || !getI32Vec(info, 3, perm)) return env.Undefined();
  const size_t rank = dims.size();
  if (rank == 0 || perm.size() != rank) return fail(env, "transpose: bad plan"), env.Undefined();
  int64_t total = 1;
  std::vector<uint8_t> seen(rank, 0);
  for (size_t d = 0; d < rank; d++) {
    if (dims[d] < 0 || perm[d] < 0 || perm[d] >= static_cast<int64_t>(rank) || seen[perm[d]]) {
      return fail(env, "transpose: bad plan"), env.Undefined();
    }
    seen[perm[d]] = 1;
    total *= dims[d];
  }
  if (total > static_cast<int64_t>(lx) || total > static_cast<int64_t>(lo)) return fail(env, "transpose: out of range"), env.Undefined();
  if (total == 0) return env.Undefined();
  std::vector<int64_t> inStride(rank);
  inStride[rank - 1] = 1;
  for (size_t d = rank - 1; d-- > 0;) inStride[d] = inStride[d + 1] * dims[d + 1];
  std::vector<int64_t> oDims(rank), oStride(rank);  // output dims and the input stride of each output axis
  for (size_t d = 0; d < rank; d++) {
    oDims[d] = dims[perm[d]];
    oStride[d] = inStride[perm[d]];
  }
  // batches of 2-D transposes [.., R, C] -> [.., C, R], blocked for cache reuse
  if (rank >= 2 && perm[rank - 1] == static_cast<int64_t>(rank) - 2 && perm[rank - 2] == static_cast<int64_t>(rank) - 1) {
    bool leadingIdentity = true;
    for (size_t d = 0; d + 2 < rank; d++) leadingIdentity &= perm[d] == static_cast<int64_t>(d);
    if (leadingIdentity) {
      const int64_t R = dims[rank - 2], C = dims[rank - 1];
      const int64_t batch = total / (R * C);
      const int64_t B = 32;
      const int64_t rowBlocks = (C + B - 1) / B;
      parallelFor(batch * rowBlocks, B * R, [&](int64_t s, int64_t e) {
        for (int64_t t = s; t < e; t++) {
          const int64_t bi = t / rowBlocks, c0 = (t % rowBlocks) * B;
          const float* xi = x + bi * R * C;
          float* oi = out + bi * R * C;
          const int64_t c1 = std::min(c0 + B, C);
          for (int64_t r0 = 0; r0 < R; r0 += B) {
            const int64_t r1 = std::min(r0 + B, R);
            for (int64_t c = c0; c < c1; c++) {
              for (int64_t r = r0; r < r1; r++) oi[c * R + r] = xi[r * C + c];
            }
          }
        }
      });
      return env.Undefined();
    }
  }
  // general permutation: walk the output in order
  const int64_t inner = oDims[rank - 1], innerStride = oStride[rank - 1];
  const int64_t rows = total / inner;
  parallelFor(rows, inner, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(rank, 0);
    int64_t off = 0, rem = r0;
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d] = rem % oDims[d];
      rem /= oDims[d];
      off += idx[d] * oStride[d];
    }
    for (int64_t r = r0; r < r1; r++) {
      float* o = out + r * inner;
      for (int64_t i = 0; i < inner; i++) o[i] = x[off + i * innerStride];
      for (size_t d = rank - 1; d-- > 0;) {
        idx[d]++;
        off += oStride[d];
        if (idx[d] < oDims[d]) break;
        off -= idx[d] * oStride[d];
        idx[d] = 0;
      }
    }
  });
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Fused Adam step

// adamStep(w, g, m, v, outW, outM, outV, outStep, lr, beta1, beta2, epsilon, c1, c2, decay): one pass over the
// elements writing the new weights, both new moments and the step (core's BiopropAdamStep kernel)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* arrays[8];
  size_t lengths[8];
  for (size_t i = 0; i < 8; i++) {
    if (!getF32(info, i, arrays[i], lengths[i])) return env.Undefined();
  }
  const size_t n = lengths[0];
  for (size_t i = 1; i < 8; i++) {
    if (lengths[i] != n) return fail(env, "adamStep: arrays differ in length"), env.Undefined();
  }
  // the loops use restrict pointers: every output is a distinct array, or w, m and v are all updated in place
  const bool inPlace = arrays[4] == arrays[0];
  if (inPlace && (arrays[5] != arrays[2] || arrays[6] != arrays[3])) {
    return fail(env, "adamStep: in place means outW = w, outM = m and outV = v"), env.Undefined();
  }
  for (size_t o = 4; o < 8; o++) {
    for (size_t i = 0; i < 8; i++) {
      const size_t pair = o == 4 ? 0 : o == 5 ? 2 : o == 6 ? 3 : 8;  // the input an in-place output overwrites
      const bool same = inPlace && i == pair;
      if (i != o && !same && n > 0 && arrays[i] < arrays[o] + n && arrays[o] < arrays[i] + n) {
        return fail(env, "adamStep: an output overlaps another array"), env.Undefined();
      }
    }
  }
  double p[7];
  for (size_t i = 0; i < 7; i++) {
    if (!info[8 + i].IsNumber()) return fail(env, "adamStep: expected numeric hyperparameters"), env.Undefined();
    p[i] = info[8 + i].As<Napi::Number>().DoubleValue();
  }
  const double lr = p[0], beta1 = p[1], beta2 = p[2], epsilon = p[3], c1 = p[4], c2 = p[5], decay = p[6];
  // each constant is computed in double and rounded once, as the tf-op path builds its scalars
  const AdamConsts k = {static_cast<float>(beta1),   static_cast<float>(1 - beta1),  static_cast<float>(beta2),
                        static_cast<float>(1 - beta2), static_cast<float>(c2),        static_cast<float>(epsilon),
                        static_cast<float>(-lr / c1),  static_cast<float>(1 - decay)};
  const auto fn = kernels().adamRange;
  parallelFor(static_cast<int64_t>(n), 4, [&](int64_t s, int64_t e) {
    fn(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[5], arrays[6], arrays[7], s, e, k);
  });
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Fused SGD / momentum step

// (lr, momentum, nesterov, decay) from info[at..]: each constant computed in double and rounded once, as the tf-op
// path builds its scalars
bool sgdConsts(const Napi::CallbackInfo& info, size_t at, bool hasMomentum, SgdConsts& k) {
  for (size_t i = at; i < at + 4; i++) {
    if (i == at + 2 ? !info[i].IsBoolean() : !info[i].IsNumber()) return fail(info.Env(), "sgdStep: expected (lr, momentum, nesterov, decay)");
  }
  const double lr = info[at].As<Napi::Number>().DoubleValue(), mu = info[at + 1].As<Napi::Number>().DoubleValue();
  const bool nesterov = info[at + 2].As<Napi::Boolean>().Value();
  const double decay = info[at + 3].As<Napi::Number>().DoubleValue();
  k = {static_cast<float>(mu), static_cast<float>(-lr), static_cast<float>(1 - decay), hasMomentum, hasMomentum && nesterov, decay != 0};
  return true;
}

// sgdStep(w, g, v | null, outW, outV | null, outStep | null, lr, momentum, nesterov, decay): one pass writing the new
// weights, the new velocity (with momentum: v given) and the step (unless outStep is null) (core's BiopropSgdStep).
// In place when outW is w (and outV is v).
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto given = [&](size_t i) { return !info[i].IsNull() && !info[i].IsUndefined(); };
  const bool hasMomentum = given(2);
  float* arrays[6] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  size_t lengths[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < 6; i++) {
    if ((i == 2 || i == 4) && !hasMomentum) continue;
    if (i == 5 && !given(5)) continue;
    if (!getF32(info, i, arrays[i], lengths[i])) return env.Undefined();
  }
  const size_t n = lengths[0];
  for (size_t i = 1; i < 6; i++) {
    if (arrays[i] && lengths[i] != n) return fail(env, "sgdStep: arrays differ in length"), env.Undefined();
  }
  // the loops use restrict pointers: every output is a distinct array, or w (and v) are updated in place
  const bool inPlace = arrays[3] == arrays[0];
  if (inPlace && arrays[4] != arrays[2]) return fail(env, "sgdStep: in place means outW = w and outV = v"), env.Undefined();
  for (size_t o = 3; o < 6; o++) {
    for (size_t i = 0; i < 6; i++) {
      const size_t pair = o == 3 ? 0 : o == 4 ? 2 : 6;  // the input an in-place output overwrites
      const bool same = inPlace && i == pair;
      if (i != o && !same && arrays[i] && arrays[o] && n > 0 && arrays[i] < arrays[o] + n && arrays[o] < arrays[i] + n) {
        return fail(env, "sgdStep: an output overlaps another array"), env.Undefined();
      }
    }
  }
  SgdConsts k;
  if (!sgdConsts(info, 6, hasMomentum, k)) return env.Undefined();
  const auto fn = kernels().sgdRange;
  parallelFor(static_cast<int64_t>(n), 2, [&](int64_t s, int64_t e) {
    fn(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[5], s, e, k);
  });
  return env.Undefined();
}

// sgdStepValues(g, vNew | null, out, lr, momentum, nesterov, decay): the step sgdStep would have written, from the
// gradient and the velocity after that update (for a step read after the update, or never)
Napi::Value SgdStepValues(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool hasMomentum = !info[1].IsNull() && !info[1].IsUndefined();
  float *g, *nv = nullptr, *out;
  size_t lg, lv = 0, lo;
  if (!getF32(info, 0, g, lg) || (hasMomentum && !getF32(info, 1, nv, lv)) || !getF32(info, 2, out, lo)) return env.Undefined();
  if (lo != lg || (hasMomentum && lv != lg)) return fail(env, "sgdStepValues: arrays differ in length"), env.Undefined();
  if (lg > 0 && ((out < g + lg && g < out + lg) || (nv && out < nv + lg && nv < out + lg))) {
    return fail(env, "sgdStepValues: the output overlaps an input"), env.Undefined();
  }
  SgdConsts k;
  if (!sgdConsts(info, 3, hasMomentum, k)) return env.Undefined();
  kernels().sgdRange(nullptr, g, nv, nullptr, nullptr, out, 0, static_cast<int64_t>(lg), k);
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Configuration

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("openblasConfig", Napi::String::New(env, openblas_get_config()));
  o.Set("openblasThreads", Napi::Number::New(env, openblas_get_num_threads()));
  o.Set("openblasCoretype", Napi::String::New(env, openblas_get_corename()));
  o.Set("elementwiseThreads", Napi::Number::New(env, threadCount()));
  o.Set("elementwiseKernels", Napi::String::New(env, kernels().name));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (!info[0].IsUndefined() && !info[0].IsNull()) openblas_set_num_threads(static_cast<int>(num(info, 0)));
  if (!info[1].IsUndefined() && !info[1].IsNull()) setThreadCount(static_cast<int>(num(info, 1)));
  return info.Env().Undefined();
}

// useKernels("baseline" | "avx2+fma"): returns whether that set is available (and now active)
Napi::Value UseKernels(const Napi::CallbackInfo& info) {
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name == base::table.name) {
    activeKernels = &base::table;
    return Napi::Boolean::New(info.Env(), true);
  }
#if defined(__x86_64__) && defined(__GNUC__)
  if (name == avx2::table.name && hasAvx2()) {
    activeKernels = &avx2::table;
    return Napi::Boolean::New(info.Env(), true);
  }
#endif
  return Napi::Boolean::New(info.Env(), false);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("useKernels", Napi::Function::New(env, UseKernels));
  exports.Set("sgemmBatched", Napi::Function::New(env, SgemmBatched));
  exports.Set("sgemmPeak", Napi::Function::New(env, SgemmPeak));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("addN", Napi::Function::New(env, AddN));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("sgdStepValues", Napi::Function::New(env, SgdStepValues));
  registerConv(env, exports);
  registerNn(env, exports);
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  return exports;
}

}  // namespace

NODE_API_MODULE(bioprop_blas, Init)
