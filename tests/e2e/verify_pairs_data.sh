# verify-pairs on the pair lists of real repositories (../shared/data, see
# its SOURCES.md): deepface's master.csv (Yes/No) and pivot CSV (paths that
# need --basename), faceid-processing's pairs_new.txt ("a.png b.png 0/1"),
# its messy pairs.txt (a clear error with the line) and its LFW-style lists
# with float-formatted numbers and only positive pairs (a single class).
# Embeddings are synthetic (tests/e2e/embgen.py), one per image named.
. "$E2E_DIR/lib.sh"
DATA=${LC_SHARED_DATA:-$REPO/../shared/data}
[ -d "$DATA/faces/deepface" ] || skip "no shared data at $DATA (set LC_SHARED_DATA)"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy' 2>/dev/null || skip "$PY has no numpy"
gen() { "$PY" "$E2E_DIR/embgen.py" pairs "$1" "$2" "$3" >/dev/null && sft pack-npy --kind embeddings -o "$3.sft" "$3"/*.npy; }

# deepface master.csv: file_x,file_y,Decision with Yes/No; keys imgN.jpg
master="$DATA/faces/deepface/master.csv"
gen "$master" csv master
verify-pairs -p "$master" --strip-ext --summary master_sum.csv --csv master.csv master.sft 2>/dev/null
# pivot: paths prefixed deepface/tests/dataset/ need --basename
pivot="$DATA/faces/deepface/face-recognition-pivot.csv"
gen "$pivot" csv pivot
expect_status 1 "line 2: key 'deepface/tests/dataset/img38.jpg' .*see --basename" -- \
    verify-pairs -p "$pivot" --strip-ext pivot.sft
verify-pairs -p "$pivot" --basename --strip-ext --summary pivot_sum.csv pivot.sft 2>/dev/null
# faceid-processing pairs_new.txt: 1000 "a.png b.png 0/1" lines
new="$DATA/faces/faceid-processing/pairs_new.txt"
gen "$new" ssv pn
verify-pairs -p "$new" --basename --strip-ext --summary pn_sum.csv --csv pn.csv pn.sft 2>/dev/null
[ "$(wc -l < pn.csv)" = 1001 ] || die "pairs_new.txt: $(wc -l < pn.csv) rows"
{
    cut -d, -f1-7 master_sum.csv
    tail -n 1 pivot_sum.csv | cut -d, -f1-7
    tail -n 1 pn_sum.csv | cut -d, -f1-7
    head -n 3 master.csv | cut -d, -f1-5
} | check_ok verify_pairs_data
# the messy pairs.txt: a clear error with the line, not a crash or garbage
expect_status 1 "pairs.txt: line [0-9]+: " -- verify-pairs -p "$DATA/faces/faceid-processing/pairs.txt" pn.sft
# LFW lines with float numbers ("259.") and positives only: parsed, then refused as one class
val="$DATA/recordio/faceid-processing/validation_pairs.txt"
gen "$val" lfw val
expect_status 1 "all 750 pairs are 'same'" -- verify-pairs -p "$val" --basename val.sft
