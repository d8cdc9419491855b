# verify-pairs on embeddings packed by `sft pack-npy` from the golden
# fixtures: the reference protocol's numbers equal the numpy transcription's
# (tests/fixtures/metrics/emb_expected.txt), every pair source gives the same
# scores, several datasets, gallery mode, and bad input with its messages.
. "$E2E_DIR/lib.sh"
M="$FIX/metrics"
cp "$M/emb_x.npy" emb.npy
cp "$M/emb_issame.npy" issame.npy
sft pack-npy --split --kind embeddings --labels issame.npy -o emb.sft emb.npy

# --- adjacent pairs (2i, 2i+1), as a .bin set unpacks
verify-pairs lfw=emb.sft --summary sum.csv --csv scores.csv -o scores.sft 2>note.txt
grep -q "^verify-pairs: lfw: 200 pairs (97 same, 103 different): 10-fold accuracy 0.935000" note.txt ||
    die "summary line: $(cat note.txt)"
# the numbers are the numpy reference's, to the last bit
field() { awk -F, -v c="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} NR==2{print $k}' "$1"; }
while read -r name want; do
    got=$(field sum.csv "$name")
    [ "$got" = "$want" ] || die "$name: verify-pairs $got, numpy reference $want"
done < "$M/emb_expected.txt"
head -n 4 scores.csv | check_ok verify_pairs_scores
[ "$(sft count scores.sft)" = 200 ] || die "scores stream count"
sft info scores.sft | grep -q "kind 'scores'" || die "scores kind"
sft info scores.sft | grep -q "score=cosine" || die "score metadata"
sft info scores.sft | grep -q "order=pairs" || die "order metadata"
sft info scores.sft | grep -q "history=verify-pairs .*lfw=emb.sft" || die "history metadata"

# --- the same pairs from a list: CSV with Yes/No, whitespace lines, LFW lines
awk -F, 'NR>1{print $3 "," $4 "," ($5==1?"Yes":"No")}' scores.csv | sed '1i file_x,file_y,Decision' > list.csv
verify-pairs -p list.csv --summary sum_csv.csv emb.sft 2>/dev/null
cmp <(cut -d, -f2- sum.csv) <(cut -d, -f2- sum_csv.csv) || die "CSV pair list differs from adjacent pairs"
awk -F, 'NR>1{print $3 " " $4 " " $5}' scores.csv > list.txt
verify-pairs -p list.txt --csv scores_ssv.csv emb.sft 2>/dev/null
cmp <(cut -d, -f2- scores.csv) <(cut -d, -f2- scores_ssv.csv) || die "whitespace pair list differs"
# LFW: keys emb/N from "{name}/{num}"; numbers written as floats as real files do
awk -F, 'NR>1{split($3,a,"/"); split($4,b,"/"); if ($5==1) print "emb\t" a[2] ".\t" b[2]; else print "emb\t" a[2] "\temb\t" b[2]}' scores.csv |
    sed '1i 10\t20' > pairs.txt
verify-pairs -p pairs.txt --lfw-key '{name}/{num}' --csv scores_lfw.csv emb.sft 2>/dev/null
cmp <(cut -d, -f2- scores.csv) <(cut -d, -f2- scores_lfw.csv) || die "LFW pair list differs"
# sqeuclidean scores are the distances the protocol uses
verify-pairs -s sqeuclidean --csv sq.csv emb.sft 2>/dev/null
head -n 1 sq.csv | grep -q "sqeuclidean$" || die "score column name"

# --- several datasets and their mean
verify-pairs -o 'out-{dataset}.sft' --summary multi.csv lfw=emb.sft cfp_fp=emb.sft 2>note.txt
[ -f out-lfw.sft ] && [ -f out-cfp_fp.sft ] || die "per-dataset outputs"
grep -q "mean 10-fold accuracy over 2 datasets: 0.935000" note.txt || die "mean line: $(cat note.txt)"
tail -n 1 multi.csv | grep -q "^mean,,,,0.93499999999999994," || die "mean row: $(tail -n 1 multi.csv)"
expect_status 2 "needs \{dataset\}" -- verify-pairs -o one.sft a=emb.sft b=emb.sft
expect_status 2 "given twice" -- verify-pairs emb.sft emb.sft

# --- stdin, and the stream kind is checked
verify-pairs - < emb.sft 2>&1 | grep -q "stdin: 200 pairs" || die "stdin input"
sft pack-npy -o tensors.sft emb.npy
expect_status 2 "expected a stream of kind 'embeddings'" -- verify-pairs tensors.sft

# --- gallery mode (all-vs-all and probe-vs-gallery) by SGEMM
verify-pairs --gallery emb.sft --top 2 --csv top.csv --matrix mat.sft 2>note.txt
grep -q "emb: 400 probes x 400 gallery, 800 pairs scored" note.txt || die "gallery line: $(cat note.txt)"
[ "$(sft count mat.sft)" = 400 ] || die "matrix rows"
sft info mat.sft | grep -q "f32  400 " || die "matrix row shape"
[ "$(wc -l < top.csv)" = 801 ] || die "top-2 rows"
# a gallery pair's SGEMM score agrees with the exact pair score to float precision
exact=$(awk -F, '$3=="emb/0" && $4=="emb/1"{print $6}' scores.csv)
verify-pairs --gallery emb.sft --csv all.csv 2>/dev/null
[ "$(wc -l < all.csv)" = $((400 * 399 / 2 + 1)) ] || die "all-vs-all pairs"
gemm=$(awk -F, '$2=="emb/0" && $3=="emb/1"{print $5}' all.csv)
awk -v a="$exact" -v b="$gemm" 'BEGIN{d=a-b; if (d<0) d=-d; exit !(d < 1e-6)}' || die "gemm $gemm vs exact $exact"
verify-pairs --probe emb.sft --block 7 emb.sft 2>&1 | grep -q "400 probes x 400 gallery, 160000 pairs" || die "probe mode"
expect_status 2 "need --gallery" -- verify-pairs --top 3 emb.sft

# --- bad input: named file, record and cause; exit 1
if "${PYTHON:-/usr/bin/python3}" -c 'import numpy' 2>/dev/null; then
    "${PYTHON:-/usr/bin/python3}" "$E2E_DIR/embgen.py" bad bad
    pack() { sft pack-npy --split --kind embeddings --labels "bad/$2.npy" -o "$3" "bad/$1.npy"; }
    pack nan pairlab nan.sft
    expect_status 1 "nan.sft: record 5 at byte [0-9]+: record 'nan/5': embedding value 3 is nan" -- verify-pairs nan.sft
    pack inf pairlab inf.sft
    expect_status 1 "record 2 .*value 0 is inf" -- verify-pairs inf.sft
    pack ok disagree dis.sft
    expect_status 1 "record 3 .*disagree on its label \(0 and 1\)" -- verify-pairs dis.sft
    pack ok two two.sft
    expect_status 1 "record 2 .*labels\[0\] must hold the pair's issame" -- verify-pairs two.sft
    pack ok allsame one.sft
    expect_status 1 "all 4 pairs are 'same'" -- verify-pairs one.sft
    sft pack-npy --split --kind embeddings --labels bad/pairlab.npy -o odd.sft bad/ok.npy
    sft slice 0:7 -i odd.sft -o odd7.sft
    expect_status 1 "odd number of records \(7\)" -- verify-pairs odd7.sft
    sft pack-npy --split --kind embeddings -o zero.sft bad/zero.npy
    expect_status 1 "norm is 0" -- verify-pairs zero.sft
fi
printf 'file_x,file_y,Decision\nemb/0,emb/1,No\nemb/2,emb/99999,Yes\n' > unknown.csv
expect_status 1 "unknown.csv: line 3: key 'emb/99999' .* is not among the 400 embeddings" -- verify-pairs -p unknown.csv emb.sft
printf 'file_x,file_y,Decision\nemb/0,emb/1,Perhaps\n' > label.csv
expect_status 1 "label.csv: line 2: label 'Perhaps'" -- verify-pairs -p label.csv emb.sft
printf 'emb 1 2 3 4 5 6 7 8 9\n' > messy.txt
expect_status 1 "messy.txt: line 1: LFW pairs have 3 fields" -- verify-pairs -p messy.txt --pairs-format lfw emb.sft
expect_status 2 "--score must be" -- verify-pairs -s l1 emb.sft
# a failed run leaves no output behind
rm -f gone.csv
expect_status 1 "" -- verify-pairs -p unknown.csv --csv gone.csv emb.sft
[ ! -e gone.csv ] || die "a failed run left gone.csv"
ls -a | grep -q '\.tmp-' && die "temporary files left: $(ls -a)"
exit 0
