// Argument readers shared by the addon's translation units: each checks the JavaScript type it expects and throws a
// TypeError (returning false) otherwise, so every entry point can bail out before touching memory.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

namespace bioprop {

inline bool fail(const Napi::Env& env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

inline bool getF32(const Napi::CallbackInfo& info, size_t i, float*& data, size_t& length) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    return fail(info.Env(), "expected a Float32Array argument");
  }
  auto arr = info[i].As<Napi::Float32Array>();
  data = arr.Data();
  length = arr.ElementLength();
  return true;
}

inline bool getI32Vec(const Napi::CallbackInfo& info, size_t i, std::vector<int64_t>& out) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    return fail(info.Env(), "expected an Int32Array argument");
  }
  auto arr = info[i].As<Napi::Int32Array>();
  out.assign(arr.Data(), arr.Data() + arr.ElementLength());
  return true;
}

inline int64_t num(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }

// Reads `count` integers from info[from..] into out; false (with an exception) when one is not a number.
inline bool nums(const Napi::CallbackInfo& info, size_t from, size_t count, int64_t* out) {
  for (size_t i = 0; i < count; i++) {
    if (!info[from + i].IsNumber()) return fail(info.Env(), "expected a numeric argument");
    out[i] = num(info, from + i);
  }
  return true;
}

// A scratch buffer of at least n floats for im2col-style staging, reused across calls (kernels run on the JS thread).
inline float* scratchFloats(size_t n, int which = 0) {
  static std::vector<float> bufs[4];
  auto& b = bufs[which & 3];
  if (b.size() < n) b.resize(n);
  return b.data();
}

// Exported entry points of the other translation units.
void registerConv(Napi::Env env, Napi::Object exports);
void registerNn(Napi::Env env, Napi::Object exports);

}  // namespace bioprop
