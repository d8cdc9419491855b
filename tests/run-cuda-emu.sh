#!/usr/bin/env bash
# Run the `cuda` suites of the given Criterion test programs on the CUDA
# emulator (tests/cudaemu/README.md): LC_CUDA_LIB names the emulator's
# library to the backend's loader, so the tests' GPU is the CPU. Fails on
# any failing test, on a sanitizer report (as run-unit.sh), and where a
# program's `cuda` suite ran no test at all (the emulator was not used).
# Two emulated GPUs, for the tests of collectives between two.
set -uo pipefail
: "${LC_CUDA_LIB:?run-cuda-emu.sh: LC_CUDA_LIB must name libsarface-cuda-emu.so}"
[ -f "$LC_CUDA_LIB" ] || { echo "run-cuda-emu.sh: no $LC_CUDA_LIB"; exit 1; }
export LC_CUDA_LIB LC_CUDA_EMU_DEVICES=2
# The suites that order streams with events (collectives overlapped with
# the ops) run again with the other streams always late and always early
# (LC_CUDA_EMU_STREAMS): a missing wait fails one of the two every time.
stream_suites=" test_comm "
status=0
run_suite() { # PROGRAM [STREAMS]
    local t=$1 streams=${2:-coin} log rc
    echo "== $t (cuda suite, emulated; streams: $streams)"
    log=$(mktemp)
    LC_CUDA_EMU_STREAMS=$streams "$t" --filter='cuda/*' --jobs="${TEST_JOBS:-2}" --verbose=1 2>&1 \
        | grep -v '^\[----\]   \|^\[RUN \]' | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then status=1; fi
    if grep -qE "ERROR: (Leak|Address)Sanitizer|runtime error:|^CUDA emulator: " "$log"; then
        echo "FAIL $t: emulator or sanitizer report above"
        status=1
    fi
    if grep -qE "Synthesis: Tested: 0 " "$log"; then
        echo "FAIL $t: no cuda test ran on the emulator"
        status=1
    fi
    rm -f "$log"
}
for t in "$@"; do
    src="tests/$(basename "$t").c"
    grep -q 'Test(cuda' "$src" 2>/dev/null || continue
    run_suite "$t"
    case "$stream_suites" in
    *" $(basename "$t") "*) run_suite "$t" late && run_suite "$t" early ;;
    esac
done
exit $status
