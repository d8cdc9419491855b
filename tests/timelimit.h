/* A test's time limit, armed inside Criterion's worker process. Criterion
 * 2.4.1's own .timeout leaks a 48-byte record in its runner now and then when
 * timed tests run side by side, which LeakSanitizer reports (make SAN=1 test
 * failed on it in CI), so no test uses it: SIGALRM ends a worker that runs
 * past its limit and Criterion reports that test as crashed. */
#ifndef TESTS_TIMELIMIT_H
#define TESTS_TIMELIMIT_H

#include <unistd.h>

#define TEST_TIME_LIMIT(seconds) alarm(seconds)

#endif
