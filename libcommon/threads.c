/* threads: OpenMP and OpenBLAS thread counts set together. */
#include "threads.h"

#include <omp.h>
#include <unistd.h>

void openblas_set_num_threads(int n); /* cblas.h of OpenBLAS; declared here to keep the include set small */

static int current;

void lc_threads_set(int n)
{
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    current = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int lc_threads_get(void) { return current ? current : omp_get_max_threads(); }

void lc_threads_set_local(int n)
{
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    omp_set_num_threads(n < 1 ? 1 : n);
}
