#!/usr/bin/env bash
# Run each libFuzzer binary given for FUZZ_SECONDS, seeded from valid
# inputs made here (streams written by sft, numpy files, images, pickles and
# checkpoints from the fixtures). Crashes are saved under build/fuzz/artifacts/ and fail the run.
set -euo pipefail
: "${LC_BIN:?}" "${FUZZ_SECONDS:=60}"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/build/fuzz
mkdir -p "$work/artifacts"
seed() { # seed NAME: fill $work/corpus-NAME with valid inputs
    local dir=$work/corpus-$1
    mkdir -p "$dir"
    case $1 in
    stream)
        "$LC_BIN/sft" pack-npy -m channels=BGR -o "$dir/a.sft" "$root"/tests/fixtures/npy/u8_4x5x3.npy "$root"/tests/fixtures/npy/f32_2x3.npy
        "$LC_BIN/sft" pack-npy --split -o "$dir/b.sft" "$root"/tests/fixtures/npy/i64_7.npy
        cat "$dir/a.sft" "$dir/a.sft" > "$dir/ab.sft" ;;
    npy) cp "$root"/tests/fixtures/npy/*.npy "$dir/" ;;
    image) cp "$root"/tests/fixtures/image/*.jpg "$root"/tests/fixtures/image/*.png "$dir/" ;;
    recordio) cp "$root"/tests/fixtures/recordio/plain.rec "$root"/tests/fixtures/recordio/early.rec "$dir/"
        cp "$root"/tests/fixtures/recordio/insightface/train.rec "$dir/insightface.rec" ;;
    pickle) cp "$root"/tests/fixtures/pickle/*.pkl "$root"/tests/fixtures/pickle/*.bin "$dir/" ;;
    tensorfile) cp "$root"/tests/fixtures/ckpt/*.safetensors "$root"/tests/fixtures/ckpt/*.pth "$root"/tests/fixtures/ckpt/*.ckpt "$dir/" ;;
    esac
}
status=0
for fuzzer in "$@"; do
    name=$(basename "$fuzzer"); name=${name#fuzz_}
    seed "$name"
    echo "== fuzzing $name for ${FUZZ_SECONDS}s"
    if ! "$fuzzer" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -artifact_prefix="$work/artifacts/$name-" -print_final_stats=1 "$work/corpus-$name" 2>"$work/$name.log"; then
        echo "FUZZ FAILURE in $name (log: $work/$name.log)"; tail -n 30 "$work/$name.log"; status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$work/$name.log" | tail -n 2
    fi
done
exit $status
