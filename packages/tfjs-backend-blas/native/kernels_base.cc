// The elementwise loops for any CPU (SSE2 on x86-64).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"

namespace bioprop {
namespace base {
#include "kernels_impl.h"
const KernelTable table = {"baseline", binaryRowImpl, compareRowImpl, unaryRangeImpl, softmaxRowImpl, adamRangeImpl, sgdRangeImpl, directConvRowImpl, directFilterRowImpl};
}  // namespace base
}  // namespace bioprop
