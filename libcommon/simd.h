/* simd: LC_CLONES compiles a hot loop kernel for AVX-512, AVX2 and the
 * baseline, picked at load time (GCC target_clones), so one binary runs
 * everywhere and uses 512-bit vectors where the CPU has them. Put it on
 * leaf functions called from OpenMP loops, never on functions that open
 * parallel regions (the outlined bodies would not be cloned). */
#ifndef LC_SIMD_H
#define LC_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LC_CLONES
#endif

/* LC_SIMD / LC_SIMD_SUM(vars): `#pragma omp simd` (with a + reduction)
 * for GCC; nothing for clang, which cannot vectorise these loops under
 * the fuzzing sanitizers and warns about every one. */
#define LC_PRAGMA_(x) _Pragma(#x)
#if defined(__GNUC__) && !defined(__clang__)
#define LC_SIMD LC_PRAGMA_(omp simd)
#define LC_SIMD_SUM(...) LC_PRAGMA_(omp simd reduction(+ : __VA_ARGS__))
#else
#define LC_SIMD
#define LC_SIMD_SUM(...)
#endif

#endif
