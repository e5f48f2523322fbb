// The elementwise loops compiled for AVX2 + FMA; used only when the CPU reports both (see addon.cc).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
// after every standard header: only the code below is compiled for AVX2
#pragma GCC target("avx2,fma")
namespace bioprop {
namespace avx2 {
#include "kernels_impl.h"
const KernelTable table = {"avx2+fma", binaryRowImpl, compareRowImpl, unaryRangeImpl, softmaxRowImpl, adamRangeImpl, sgdRangeImpl, directConvRowImpl, directFilterRowImpl};
}  // namespace avx2
}  // namespace bioprop
#endif
