/* rng: xoshiro256** (Blackman and Vigna), splitmix64 seeding. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lc_rng_seed(struct lc_rng *r, uint64_t seed) { lc_rng_seed_stream(r, seed, 0); }

void lc_rng_seed_stream(struct lc_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull + 0x632be59bd9b4e019ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lc_rng_u64(struct lc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float lc_rng_uniform(struct lc_rng *r) { return (float)(lc_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
double lc_rng_uniform_double(struct lc_rng *r) { return (double)(lc_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t lc_rng_below(struct lc_rng *r, uint64_t n)
{
    uint64_t limit = -n % n; /* reject the short top range: no modulo bias */
    for (;;) {
        uint64_t x = lc_rng_u64(r);
        if (x >= limit) return x % n;
    }
}

double lc_rng_normal(struct lc_rng *r)
{
    double u1 = lc_rng_uniform_double(r), u2 = lc_rng_uniform_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void lc_rng_shuffle(struct lc_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)lc_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
