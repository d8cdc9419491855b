/* needgpu: the `cuda` suites' skip, with its reason, where this build has
 * no CUDA support or no GPU is usable. */
#ifndef LC_TEST_NEEDGPU_H
#define LC_TEST_NEEDGPU_H

#include <criterion/criterion.h>

#include "backend.h"

static inline void need_gpu(void)
{
    char why[256] = "";
    if (!lc_backend_cuda_built()) cr_skip_test("CUDA tests skipped: this build has no CUDA support");
    if (lc_backend_cuda_devices(why, sizeof why) == 0) cr_skip_test("CUDA tests skipped: no usable GPU (%s)", why);
}

#endif
