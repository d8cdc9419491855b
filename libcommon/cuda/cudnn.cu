// cudnn: the one unit that talks to cuDNN (handles and, later, convolution
// and batch-norm plans). For now: the library version for --version.
#include <cudnn.h>
#include <stdio.h>

#include "cuda.h"

extern "C" void lc_cudnn_version(char *buf, size_t size)
{
    size_t v = cudnnGetVersion(); // e.g. 91200 = 9.12.0
    snprintf(buf, size, "cuDNN %zu.%zu.%zu", v / 10000, v % 10000 / 100, v % 100);
}
