#!/usr/bin/env bash
# Run Criterion test binaries. Criterion reports a test as passed before
# its worker process exits, so sanitizer reports printed at exit (leaks)
# would go unnoticed: scan the output for them and fail. Criterion's own
# .timeout leaks now and then under LeakSanitizer: tests use timelimit.h.
set -uo pipefail
status=0
for t in "$@"; do
    echo "== $t"
    src="tests/$(basename "$t").c"
    if [ -f "$src" ] && grep -nE '\.timeout *=' "$src"; then
        echo "FAIL $t: $src uses Criterion's .timeout (use TEST_TIME_LIMIT from tests/timelimit.h)"
        status=1
    fi
    log=$(mktemp)
    "$t" --jobs="${TEST_JOBS:-2}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then status=1; fi
    if grep -qE "ERROR: (Leak|Address)Sanitizer|runtime error:" "$log"; then
        echo "FAIL $t: sanitizer report above"
        status=1
    fi
    rm -f "$log"
done
exit $status
