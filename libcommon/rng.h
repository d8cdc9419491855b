/* rng: the toolkit's deterministic random numbers (xoshiro256**, seeded by
 * splitmix64). Same seed, same sequence on every machine: weight init,
 * dropout masks, augmentation and shuffling all draw from here. The state
 * is four words, so checkpoints can store it for an exact resume. (PyTorch's
 * generator is not reproduced: goldens pass tensors, never seeds.) */
#ifndef LC_RNG_H
#define LC_RNG_H

#include <stddef.h>
#include <stdint.h>

struct lc_rng {
    uint64_t s[4];
};

void lc_rng_seed(struct lc_rng *r, uint64_t seed);
/* An independent stream: stream i of seed (e.g. one per worker or epoch). */
void lc_rng_seed_stream(struct lc_rng *r, uint64_t seed, uint64_t stream);
uint64_t lc_rng_u64(struct lc_rng *r);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float lc_rng_uniform(struct lc_rng *r);
double lc_rng_uniform_double(struct lc_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t lc_rng_below(struct lc_rng *r, uint64_t n);
/* Standard normal (Box-Muller in double). */
double lc_rng_normal(struct lc_rng *r);
/* Fisher-Yates shuffle of n indices. */
void lc_rng_shuffle(struct lc_rng *r, uint32_t *idx, size_t n);

#endif
