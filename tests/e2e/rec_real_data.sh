# rec-unpack on the real third-party data (../shared/data, see SOURCES.md):
# every record parses, labels and keys are what the files hold, and every
# decoded image equals OpenCV's decode pixel for pixel (CRCs of cv2.imdecode
# output in tests/fixtures/real/, made by tests/make_golden.py real).
. "$E2E_DIR/lib.sh"
DATA=${LC_SHARED_DATA:-$REPO/../shared/data}
[ -d "$DATA/recordio" ] || skip "real data not found at $DATA (set LC_SHARED_DATA)"
check() { # check NAME DATASET: key,label,crc of rec-unpack's output vs the golden
    local name=$1 ds=$2
    rec-unpack -j 2 -o "$name.sft" "$ds"
    sft list --csv "$name.sft" | awk -F'"' 'NR > 1 { split($3, a, ","); split($4, l, " "); n = split($0, f, ","); print $2 "," l[1] "," f[n] }' > "$name.got"
    tail -n +2 "$FIX/real/$name.csv" > "$name.want"
    diff "$name.want" "$name.got" > "$name.diff" || die "$name: $(wc -l < "$name.diff") lines differ from OpenCV's decode: $(head -n 6 "$name.diff")"
    echo "$name: $(wc -l < "$name.got") images identical to OpenCV"
}
check faceid_testing "$DATA/recordio/faceid-processing/testing.rec"
check faceid_validation "$DATA/recordio/faceid-processing/validation.rec"
check popkorn "$DATA/recordio/popkorn-adaface/train.rec"
check enkhtogtokh "$DATA/recordio/enkhtogtokh-transfer_learning/train.rec"
check pythxnbite "$DATA/recordio/pythxnbite-image-detect/val.rec"
check bin_training "$DATA/verification_bin/faceid-processing/training.bin"
check bin_validation "$DATA/verification_bin/faceid-processing/validation.bin"
check folder_testing "$DATA/faces/faceid-processing/testing"
check folder_png "$DATA/faces/faceid-processing/dataset_png"

# ids and the stored float labels: --list against the files' own .lst
rec-unpack --list "$DATA/recordio/faceid-processing/testing.rec" | tail -n +2 | cut -d, -f2,3,5 | sort > ids.got
awk -F'\t' '{ printf "%s,%d,%s\n", $1, $2, $1 }' "$DATA/recordio/faceid-processing/testing.lst" | sort > ids.want
diff ids.want ids.got || die "keys, labels or ids differ from testing.lst"
# label arrays (im2rec detection format, flag 9) kept exactly: .lst columns 2..10
rec-unpack --list "$DATA/recordio/enkhtogtokh-transfer_learning/train.rec" | tail -n +2 | cut -d, -f4 > arr.got
awk -F'\t' '{ s = ""; for (i = 2; i <= 10; i++) s = s (i > 2 ? " " : "") sprintf("%.9g", $i); print s }' \
    "$DATA/recordio/enkhtogtokh-transfer_learning/train.lst" > arr.want
# the .lst prints doubles, the record holds float32: compare as float32 through python? awk: 6 significant digits
paste -d'|' arr.want arr.got | awk -F'|' '{ n = split($1, a, " "); split($2, b, " "); for (i = 1; i <= n; i++) if ((a[i] - b[i]) > 1e-6 * (1 + (a[i] < 0 ? -a[i] : a[i])) || (b[i] - a[i]) > 1e-6 * (1 + (a[i] < 0 ? -a[i] : a[i]))) { print "row " NR ": " $0; exit 1 } }' \
    || die "label arrays differ from train.lst"
# a RecordIO file without an IRHeader (protobuf records) fails clearly
expect_status 1 'record 0 at byte 0: IRHeader flag [0-9]+ promises more labels' -- rec-unpack -o x.sft "$DATA/recordio/sxh-ml_aircraft/val.rec"
[ ! -e x.sft ] || die "a failed run left x.sft"
