{
  "targets": [
    {
      "target_name": "bioprop_blas",
      "sources": ["native/addon.cc", "native/conv.cc", "native/nn.cc", "native/kernels_base.cc", "native/kernels_avx2.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["<!@(node scripts/openblas-flags.mjs cflags)"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "<!@(node scripts/openblas-flags.mjs cflags)"],
      "libraries": ["<!@(node scripts/openblas-flags.mjs libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
