#!/usr/bin/env bash
# Run Criterion test binaries. Criterion reports a test as passed before
# its worker process exits, so sanitizer reports printed at exit (leaks)
# would go unnoticed: scan the output for them and fail.
set -uo pipefail
status=0
for t in "$@"; do
    echo "== $t"
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
