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
status=0
for t in "$@"; do
    src="tests/$(basename "$t").c"
    grep -q 'Test(cuda' "$src" 2>/dev/null || continue
    echo "== $t (cuda suite, emulated)"
    log=$(mktemp)
    "$t" --filter='cuda/*' --jobs="${TEST_JOBS:-2}" --verbose=1 2>&1 | grep -v '^\[----\]   \|^\[RUN \]' | tee "$log"
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
done
exit $status
