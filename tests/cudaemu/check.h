// check: the emulator's own check programs' (selftest.cu, sums_order.cu)
// failure count and CHECK, which reports a failed condition and counts it.
#ifndef LC_CUDAEMU_CHECK_H
#define LC_CUDAEMU_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

#endif
