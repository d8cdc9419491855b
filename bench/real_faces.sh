#!/usr/bin/env bash
# real_faces: train-pre on real faces, CPU only. An IR-18 with a margin
# head (default CosFace m 0.2, s 30: the small-data recipe) is trained on
# the training split of ../shared/data/faces/faceid-processing
# (25 identities, 1845 aligned 112x112 faces) and verified on same/different
# pairs drawn (seeded) from the testing split, leaving out every testing
# image whose bytes also occur in training. The trained model must beat the
# untrained backbone and chance. Skips where the data is absent.
#   bench/real_faces.sh [EPOCHS] (default 12; 3 to 4 minutes per epoch on 2 cores)
#   KEEP=DIR keeps the work (run, embeddings, scores) in DIR.
#   HEAD=cosface HEAD_ARGS="--m 0.2 --s 30" LR=0.02 MILESTONES=E,E BATCH=32
#   set the recipe (the defaults shown; milestones default to 3/4 and 11/12
#   of the epochs). The reference's AdaFace (m 0.4, s 64) learns too slowly
#   from scratch on 1845 faces: bench/results/2026-11-28-vm-training.txt.
# Ends with roc-report's AUC and its 95% bootstrap interval for both models.
# Needs the tools in $LC_BIN (default bin/) and /usr/bin/python3 (no numpy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${LC_SHARED_DATA:-$root/../shared/data}/faces/faceid-processing
export PATH="${LC_BIN:-$root/bin}:$PATH"
epochs=${1:-12}
head=${HEAD:-cosface}
head_args=${HEAD_ARGS---m 0.2 --s 30}
lr=${LR:-0.02}
batch=${BATCH:-32}
milestones=${MILESTONES:-$(( (epochs * 3 + 3) / 4 )),$(( (epochs * 11 + 11) / 12 ))}
if [ ! -d "$data/training" ] || [ ! -d "$data/testing" ]; then
    echo "real_faces: skipped ($data not present)"
    exit 0
fi
if [ -n "${KEEP:-}" ]; then
    work=$KEEP
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/lc-real-faces.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
cd "$work"

# testing images whose bytes are not in training, then 400 pairs among them
# (half same identity), drawn with a fixed seed, in random order (the
# protocol's folds are contiguous runs of pairs)
(cd "$data/training" && find . -type f -exec sha256sum {} +) | awk '{print $1}' | sort -u >train.sha
(cd "$data/testing" && find . -type f -exec sha256sum {} +) | sort >test.sha
awk 'NR == FNR { seen[$1] = 1; next } !seen[$1] { sub("^\\./", "", $2); print $2 }' train.sha test.sha >test-keep.txt
/usr/bin/python3 - test-keep.txt >pairs.csv <<'EOF'
import random, sys
keys = [l.strip() for l in open(sys.argv[1]) if l.strip()]
by = {}
for k in keys:
    by.setdefault(k.split("/")[0], []).append(k)
ids = sorted(i for i in by if len(by[i]) >= 2)
rng = random.Random(20261128)
pairs = set()
while len(pairs) < 400:
    if len(pairs) % 2 == 0:
        i = rng.choice(ids); a, b = rng.sample(sorted(by[i]), 2); lab = 1
    else:
        i, j = rng.sample(sorted(by), 2); a, b = rng.choice(sorted(by[i])), rng.choice(sorted(by[j])); lab = 0
    pairs.add((min(a, b), max(a, b), lab))
pairs = sorted(pairs)
rng.shuffle(pairs)
print("a,b,label")
for a, b, lab in pairs:
    print("%s,%s,%d" % (a, b, lab))
EOF
echo "real_faces: $(wc -l <test-keep.txt) of $(wc -l <test.sha) testing images kept (the rest also occur in training); 400 pairs"

rec-unpack -o train.sft "$data/training"
rec-unpack -o test.sft "$data/testing"
t0=$(date +%s)
# shellcheck disable=SC2086 # head_args: several options
train-pre --arch ir_18 --head "$head" $head_args --batch_size "$batch" --epochs "$epochs" --lr "$lr" \
    --lr_milestones "$milestones" --seed 1 -o run train.sft 2>train.log
t1=$(date +%s)
embed -m run/weights.safetensors -o emb-trained.sft test.sft
embed --untrained --arch ir_18 -o emb-untrained.sft test.sft
for m in untrained trained; do
    verify-pairs --pairs pairs.csv --summary "sum-$m.csv" -o "scores-$m.sft" "emb-$m.sft" 2>/dev/null
done
acc() { awk -F, 'NR == 2 { printf "%.4f +- %.4f (AUC %.4f)", $5, $6, $12 }' "$1"; }
echo "real_faces: IR-18 + $head${head_args:+ ($head_args)}, batch $batch, lr $lr (x0.1 at epochs $milestones), $epochs epochs on 1845 training faces in $((t1 - t0)) s ($(grep '^train,' run/metrics.csv | tail -n 1 | cut -d, -f7) images/s at the end)"
echo "  final training loss $(grep '^train,' run/metrics.csv | tail -n 1 | cut -d, -f5), training accuracy $(grep '^train,' run/metrics.csv | tail -n 1 | cut -d, -f6)"
echo "  10-fold verification accuracy on held-out testing pairs: untrained $(acc sum-untrained.csv), trained $(acc sum-trained.csv); chance 0.5"
roc-report -o report scores-untrained.sft scores-trained.sft >/dev/null 2>&1
echo "  AUC [95% bootstrap interval]: $(awk -F'|' '/^\| scores-untrained/ { u = $4 } /^\| scores-trained/ { t = $4 } END { gsub(/^ +| +$/, "", u); gsub(/^ +| +$/, "", t); printf "untrained %s, trained %s", u, t }' report/summary.md)"
