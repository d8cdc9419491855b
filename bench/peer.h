/* peer: where a benchmark finds its Python peer script: $LC_BENCH_DIR/NAME,
 * else beside the build tree (build/<variant>/bench/X -> bench/NAME). */
#ifndef LC_BENCH_PEER_H
#define LC_BENCH_PEER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void bench_peer_path(char *py, size_t cap, const char *name)
{
    const char *dir = getenv("LC_BENCH_DIR");
    if (dir) {
        snprintf(py, cap, "%s/%s", dir, name);
        return;
    }
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = 0;
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(self, '/');
        if (slash) *slash = 0;
    }
    snprintf(py, cap, "%s/bench/%s", self, name);
}

#endif
