# roc-report: its numbers equal scikit-learn's and the numpy reference's
# on the golden score files; two runs and two datasets; every output file;
# seeded intervals; plots with and without gnuplot; bad input.
. "$E2E_DIR/lib.sh"
M="$FIX/metrics"
field() { awk -F, -v c="$2" -v r="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i} $1==r && NR>1{print $k; exit}' "$1"; }

# --- scikit-learn's roc_curve/roc_auc_score on scores with ties
roc-report -o ties -b 0 "$M/roc_ties.csv" 2>/dev/null
while read -r name want; do
    case $name in
    tar_1e-2) got=$(awk -F, '$3=="0.01"{print $4}' ties/tar_at_far.csv) ;;
    tar_1e-3) got=$(awk -F, '$3=="0.001"{print $4}' ties/tar_at_far.csv) ;;
    *) got=$(field ties/summary.csv "$name" roc_ties) ;;
    esac
    [ "$got" = "$want" ] || die "$name: roc-report $got, scikit-learn $want"
done < "$M/roc_ties_expected.txt"
# roc.csv: sklearn's drop_intermediate points by default, every point with --all-points
want=$(field ties/summary.csv roc_points_dropped roc_ties)
[ "$(($(wc -l < ties/roc.csv) - 1))" = "$want" ] || die "roc.csv rows"
roc-report -o ties_all -b 0 --all-points --gnuplot none "$M/roc_ties.csv" 2>/dev/null
[ "$(($(wc -l < ties_all/roc.csv) - 1))" = "$(field ties/summary.csv roc_points roc_ties)" ] || die "--all-points rows"
head -n 3 ties_all/roc.csv | check_ok roc_report_roc

# --- the reference's 10-fold accuracy and TAR@FAR on pairs in order
roc-report -o proto -b 0 "$M/proto_unbalanced.csv" 2>/dev/null
while read -r name want; do
    got=$(field proto/summary.csv "$name" proto_unbalanced)
    [ "$got" = "$want" ] || die "$name: roc-report $got, numpy reference $want"
done < "$M/proto_unbalanced_expected.txt"
roc-report -o proto_no -b 0 --tenfold no --gnuplot none "$M/proto_unbalanced.csv" 2>/dev/null
[ -z "$(field proto_no/summary.csv acc10_mean proto_unbalanced)" ] || die "--tenfold no"

# --- from verify-pairs: a stream and a CSV of the same scores, two runs
cp "$M/emb_x.npy" emb.npy
cp "$M/emb_issame.npy" issame.npy
sft pack-npy --split --kind embeddings --labels issame.npy -o emb.sft emb.npy
verify-pairs -o 's-{dataset}.sft' --csv scores.csv lfw=emb.sft agedb_30=emb.sft 2>/dev/null
roc-report -o rep -b 200 --seed 7 --title "Baseline vs SARFace" base=s-lfw.sft base=s-agedb_30.sft sarface=scores.csv 2>note.txt
grep -q "wrote rep" note.txt || die "no summary note: $(cat note.txt)"
cut -d, -f1-9,14-16 rep/summary.csv | check_ok roc_report_summary
grep -c ',yes$' rep/tar_at_far.csv | check_ok roc_report_supported
# stream and CSV give identical metrics, bit for bit
a=$(grep '^base,lfw,' rep/summary.csv | cut -d, -f3-5,7-)
b=$(grep '^sarface,lfw,' rep/summary.csv | cut -d, -f3-5,7-)
[ "$a" = "$b" ] || die "stream and CSV differ: $a / $b"
# the same seed gives the same intervals; another seed others
roc-report -o rep2 -b 200 --seed 7 --threads 1 --gnuplot none base=s-lfw.sft 2>/dev/null
[ "$(grep '^base,lfw' rep/tar_at_far.csv)" = "$(grep '^base,lfw' rep2/tar_at_far.csv)" ] || die "seeded intervals differ"
roc-report -o rep3 -b 200 --seed 8 --gnuplot none base=s-lfw.sft 2>/dev/null
[ "$(grep '^base,lfw' rep/tar_at_far.csv)" != "$(grep '^base,lfw' rep3/tar_at_far.csv)" ] || die "seed ignored"
# the report: HTML with tables, inputs' checksums and command lines; Markdown
grep -q "<h2>lfw</h2>" rep/index.html && grep -q "<h2>agedb_30</h2>" rep/index.html || die "dataset sections"
sum=$(sha256sum scores.csv | cut -d' ' -f1)
grep -q "$sum" rep/index.html && grep -q "$sum" rep/summary.md || die "input checksum missing"
grep -q "roc-report -o rep -b 200 --seed 7 --title &#39;Baseline vs SARFace&#39;\|roc-report -o rep -b 200 --seed 7 --title 'Baseline vs SARFace'" rep/index.html ||
    die "command line missing"
grep -q "verify-pairs .*lfw=emb.sft" rep/index.html || die "the inputs' history is missing"
grep -q "^| sarface | 200 |" rep/summary.md || die "markdown table"
if command -v gnuplot >/dev/null; then
    only_files rep det-agedb_30.png det-agedb_30.svg det-lfw.png det-lfw.svg index.html plots.gp roc-agedb_30.png \
        roc-agedb_30.svg roc-lfw.png roc-lfw.svg roc.csv summary.csv summary.md tar_at_far.csv
    head -c 8 rep/roc-lfw.png | od -An -tx1 | grep -q "89 50 4e 47" || die "not a PNG"
    grep -q "<svg" rep/det-lfw.svg || die "not an SVG"
    [ "$(grep -c '<svg' rep/index.html)" = 4 ] || die "HTML should embed 4 SVG plots"
    grep -q "<?xml" rep/index.html && die "inline SVG keeps its XML declaration"
    # the script alone remakes the plots
    mkdir again && cp rep/plots.gp again/ && (cd again && gnuplot plots.gp) && [ -s again/roc-lfw.svg ] ||
        die "plots.gp does not run on its own"
fi
# without gnuplot: everything else, and the tool says what it skipped
roc-report -o nognu -b 0 --gnuplot /nonexistent/gnuplot base=s-lfw.sft 2>note.txt
grep -q "skipped the PNG and SVG plots: gnuplot ('/nonexistent/gnuplot') was not found" note.txt ||
    die "skip message: $(cat note.txt)"
only_files nognu index.html plots.gp roc.csv summary.csv summary.md tar_at_far.csv
grep -q "Plots skipped" nognu/index.html && grep -q "Plots skipped" nognu/summary.md || die "skip not reported"

# --- stdin is a stream
roc-report -o piped -b 0 --gnuplot none - < s-lfw.sft 2>/dev/null
[ "$(field piped/summary.csv auc stdin)" = "$(field rep/summary.csv auc base)" ] || die "stdin scores"

# --- bad input: file and line or record named, exit 1; usage errors exit 2
printf 'label,score\n1,0.9\n0,0.1\n1,inf\n' > inf.csv
expect_status 1 "inf.csv: line 4: score 'inf' is not a finite number" -- roc-report -o bad inf.csv
printf 'label,score\n1,0.9\nsame,0.1\n2,0.3\n' > lab.csv
expect_status 1 "lab.csv: line 4: label '2' is not 1 \(same\) or 0 \(different\)" -- roc-report -o bad lab.csv
printf 'label,score\n1,0.9\n1,0.1\n' > one.csv
expect_status 1 "one.csv: dataset 'one': all 2 pairs are 'same'" -- roc-report -o bad one.csv
printf 'label,score\n1,0.9,3\n' > wide.csv
expect_status 1 "wide.csv: line 2: 3 fields, the header has 2" -- roc-report -o bad wide.csv
expect_status 2 "expected a stream of kind 'scores', got 'embeddings'" -- roc-report -o bad emb.sft
expect_status 2 "-o DIR is required" -- roc-report scores.csv
expect_status 2 "has dataset 'lfw' twice" -- roc-report -o bad x=s-lfw.sft x=scores.csv
expect_status 2 "--tenfold must be" -- roc-report -o bad --tenfold maybe scores.csv
ls -a bad 2>/dev/null | grep -q tmp && die "temporary files left in bad/"
exit 0
