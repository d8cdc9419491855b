/* dropout: inverted dropout as nn.Dropout in training mode. Each element is
 * kept with probability 1 - p (mask 1) and scaled by 1 / (1 - p). The mask
 * is a function of one 64-bit key drawn from the caller's lc_rng and of the
 * element's index (a splitmix64 hash, 24 bits compared with p), so a
 * seeded run repeats exactly, whatever the thread count, and a GPU draws
 * the same mask in place (it does not reproduce PyTorch's random stream).
 * In evaluation dropout is the identity; callers skip it. */
#ifndef LC_DROPOUT_H
#define LC_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* y may equal x; mask (n) is saved for backward. p in [0, 1). Equals
 * lc_dropout_mask then lc_dropout_apply (a device draws the mask on the
 * host, so a seeded run is the same on every device). */
void lc_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, struct lc_rng *rng);
void lc_dropout_mask(uint8_t *mask, size_t n, float p, struct lc_rng *rng);
/* The key lc_dropout_mask draws (none when p <= 0: returns 0), and the
 * mask for a key: mask[i] = u(key, i) >= p. */
uint64_t lc_dropout_key(float p, struct lc_rng *rng);
void lc_dropout_mask_keyed(uint8_t *mask, size_t n, float p, uint64_t key);
/* u(key, i), the same function in the CUDA twin (this header, compiled
 * for the device too): the top 24 bits of splitmix64's finaliser of
 * key + (i + 1) * golden ratio, times 2^-24 (exact). */
#ifdef __CUDACC__
#define LC_HOST_DEVICE __host__ __device__
#else
#define LC_HOST_DEVICE
#endif
LC_HOST_DEVICE static inline float lc_dropout_uniform(uint64_t key, uint64_t i)
{
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}
/* y = mask ? x / (1 - p) : 0 */
void lc_dropout_apply(float *y, const float *x, const uint8_t *mask, size_t n, float p);
/* dx += dy * mask / (1 - p) */
void lc_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);

#endif
