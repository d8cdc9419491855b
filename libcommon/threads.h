/* threads: one knob for how many CPU threads the compute uses (OpenMP
 * loops inside ops and OpenBLAS GEMMs). Results are deterministic for a
 * given count: ops split work statically and reduce in a fixed order. */
#ifndef LC_THREADS_H
#define LC_THREADS_H

/* n <= 0: all online CPUs. */
void lc_threads_set(int n);
int lc_threads_get(void);
/* The calling thread's OpenMP count only (OpenBLAS's is process-wide):
 * for ranks run as threads, which keep OpenBLAS serial. */
void lc_threads_set_local(int n);

#endif
