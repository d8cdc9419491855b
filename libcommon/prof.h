/* prof: where a device's time goes, op by op. Between lc_prof_start and
 * lc_prof_report, every op of the device seam (backend.h's lc_op_*, and
 * lc_device_zero and lc_device_upload_async, which run on its stream) that
 * the calling thread runs is timed and summed under its function's name:
 * on the CPU by the wall clock around the op, on a GPU by a pair of timing
 * events on the ops' stream (the kernels' time, not the launch's). The
 * report's gap, the wall time the caller measured less the ops' time, is
 * what no op ran: on a GPU, launch and host overhead the kernels did not
 * hide. Off (the default) it costs one thread-local test per op. */
#ifndef LC_PROF_H
#define LC_PROF_H

#include <stdio.h>

#include "err.h"

void lc_prof_start(void);
/* The table (op, calls, milliseconds, share; most time first) to f, then
 * stop and forget. wall_ms: the span the caller timed (0: none). Waits for
 * the GPU when GPU ops were timed. Returns the ops' milliseconds, or -1
 * with err (a GPU timing failed). */
double lc_prof_report(FILE *f, double wall_ms, struct lc_err *err);

/* Is the calling thread timing ops? (CUDA graphs cannot be timed) */
int lc_prof_active(void);

/* backend.c, around each op: a handle for lc_prof_end (-1 when off). */
int lc_prof_begin(const char *op, int gpu);
void lc_prof_end(int handle);

#endif
