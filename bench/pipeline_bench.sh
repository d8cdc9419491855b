#!/usr/bin/env bash
# pipeline_bench: the tools end to end against PyTorch on the same machine
# and thread count (bench/ir_peer.py, timed as best of a few batches):
#   - train-pre, IR-18 + AdaFace, batch 32, on a synthetic RecordIO set
#     (JPEG decoding, the reference's augmentation, the head, SGD): images/s
#     of its steady state, against PyTorch's bare training step on tensors
#     already in memory (no data loading: the peer is favoured);
#   - the loader alone (bench/loader_bench) with train-pre's 2 workers and
#     with 1, to show that data loading is not the bottleneck;
#   - embed, IR-50, flip fusion, batch 32, on 256 images: images/s against
#     PyTorch's eval forward of the images and their mirror.
# Needs the tools in $LC_BIN, loader_bench in $BENCH_BIN, python3-torch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${LC_BIN:-$root/bin}:$PATH"
bench_bin=${BENCH_BIN:-$root/build/release/bench}
threads=${THREADS:-$(nproc)}
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
    echo "pipeline_bench: skipped (no torch for /usr/bin/python3: scripts/install-deps --golden)"
    exit 0
fi
work=$(mktemp -d /tmp/lc-pipeline-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
synth-faces -o syn -n 100 -k 10 --val-identities 20 --val-images 13 --pairs 128 >/dev/null
echo "pipeline_bench: $threads threads; synthetic set of 1000 JPEG faces (100 identities)"

l2=$("$bench_bin/loader_bench" syn 2 32 30 | cut -d' ' -f1)
l1=$("$bench_bin/loader_bench" syn 1 32 30 | cut -d' ' -f1)
train-pre --arch ir_18 --head adaface --batch_size 32 --epochs 1 --max_steps 16 --log_every 8 -j "$threads" \
    --low_res_augmentation_prob 0.2 --crop_augmentation_prob 0.2 --photometric_augmentation_prob 0.2 -o run syn 2>/dev/null
ours=$(grep '^train,' run/metrics.csv | tail -n 1 | cut -d, -f7) # steps 9-16: past the warm-up
peer=$($py "$root/bench/ir_peer.py" train "$threads" 3 32 18)
awk -v a="$ours" -v b="$peer" -v l1="$l1" -v l2="$l2" 'BEGIN {
    printf "  train-pre IR-18, batch 32        %7.2f img/s   PyTorch step alone %7.2f img/s   ratio %.2f\n", a, b, a / b
    printf "  loader alone (decode + augment)  %7.1f img/s with 2 workers, %.1f with 1: %.0fx what train-pre consumes\n", l2, l1, l2 / a }'

rec-unpack -o val.sft syn/synth_val.bin
t0=$(date +%s.%N)
embed --untrained --arch ir_50 -b 32 -j "$threads" -o emb.sft val.sft
t1=$(date +%s.%N)
peer=$($py "$root/bench/ir_peer.py" embed "$threads" 2 32 50)
awk -v t0="$t0" -v t1="$t1" -v b="$peer" -v n="$(sft count val.sft)" 'BEGIN {
    a = n / (t1 - t0)
    printf "  embed IR-50 + flip, batch 32      %7.2f img/s   PyTorch            %7.2f img/s   ratio %.2f (embed: whole tool, %d images)\n", a, b, a / b, n }'
