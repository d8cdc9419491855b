// nccl: the one unit that talks to NCCL (communicators and all-reduce for
// data parallelism arrive with multi-GPU training). For now: the version.
#include <nccl.h>
#include <stdio.h>

#include "cuda.h"

extern "C" void lc_nccl_version(char *buf, size_t size)
{
    int v = 0;
    ncclGetVersion(&v); // e.g. 22803 = 2.28.3
    snprintf(buf, size, "NCCL %d.%d.%d", v / 10000, v % 10000 / 100, v % 100);
}
