# synth-faces: a small synthetic set in the real layouts, read back by the
# data tools; deterministic; label maps keyed like the images.
. "$E2E_DIR/lib.sh"
synth-faces -o a -n 5 -k 4 --val-identities 3 --val-images 3 --pairs 8 -s 3
synth-faces -o b -n 5 -k 4 --val-identities 3 --val-images 3 --pairs 8 -s 3
for f in train.rec train.idx train.lst property synth_val.bin; do cmp "a/$f" "b/$f" || die "$f is not deterministic"; done
[ "$(cat a/property)" = "5,112,112" ] || die "property: $(cat a/property)"
rec-unpack -o imgs.sft a
[ "$(sft count imgs.sft)" = 20 ] || die "20 training images"
sft info imgs.sft | grep -q "label\[0\] from 0 to 4" || die "labels 0..4"
rec-unpack --pairs pairs.sft -o val.sft a/synth_val.bin
[ "$(sft count val.sft)" = 16 ] || die "16 validation images"
[ "$(sft list pairs.sft | tail -n +3 | cut -f3 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "4 4 " ] || die "half same, half different"
# label maps: one per image, same keys, 112x112 u8, 10 landmark floats
[ "$(sft list a/train-labelmaps.sft | tail -n +3 | cut -f2 | tr '\n' ' ')" = "$(sft list imgs.sft | tail -n +3 | cut -f2 | tr '\n' ' ')" ] \
    || die "label map keys differ from the image keys"
sft list a/synth_val-labelmaps.sft | tail -n +3 | cut -f2 | head -n 1 | grep -qx "synth_val/0" || die "validation label map keys"
sft head -n 1 a/train-labelmaps.sft | tail -n 1 | awk -F'\t' '$5 == "u8" && $6 == "112x112" { ok = 1 } END { exit !ok }' || die "label map shape"
sft info a/train-labelmaps.sft | grep -q "floats:    10 per record" || die "landmarks"
# a larger set contains the smaller one's images
synth-faces -o c -n 6 -k 4 --val-identities 3 --val-images 3 --pairs 8 -s 3
rec-unpack --raw -o small.sft a
rec-unpack --raw --range 0:20 -o big.sft c
diff <(sft list small.sft | tail -n +3 | cut -f9) <(sft list big.sft | tail -n +3 | cut -f9) || die "images depend on more than (seed, identity, image)"
expect_status 2 "pairs must be even" -- synth-faces -o x --pairs 7
