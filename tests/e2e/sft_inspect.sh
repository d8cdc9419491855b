# sft on a stream packed from numpy fixtures: info, head, list, count,
# slice, cat and export, checked against committed expected output.
. "$E2E_DIR/lib.sh"
cp "$FIX"/npy/u8_4x5x3.npy img.npy
cp "$FIX"/npy/f32_2x3.npy emb.npy
cp "$FIX"/npy/i64_7.npy ids.npy
sft pack-npy -m channels=BGR -m source=fixtures -o t.sft img.npy emb.npy ids.npy
sft info t.sft | check_ok sft_info
sft info --json t.sft | check_ok sft_info_json
sft head -n 2 --values 4 t.sft | check_ok sft_head
sft list --csv t.sft | check_ok sft_list_csv
[ "$(sft count t.sft)" = 3 ] || die "count"
# slice to stdout, read back from stdin
sft slice 1:3 -i t.sft | sft head - | check_ok sft_slice
# concatenation by cat(1) is a valid two-segment stream; sft cat makes one
cat t.sft t.sft > two.sft
[ "$(sft count two.sft)" = 6 ] || die "count of a concatenation"
sft info two.sft | grep -q "segments:  2" || die "segments not reported"
sft cat -o joined.sft t.sft t.sft
sft info joined.sft | grep -q "segments" && die "sft cat should make one segment"
[ "$(sft count joined.sft)" = 6 ] || die "count after sft cat"
# every record of the joined stream is the same as in the original, in order
sft list joined.sft | cut -f2-9 | sed 1,2d > a.txt
(sft list t.sft; sft list t.sft) | grep -v '^#' | cut -f2-9 > b.txt
diff a.txt b.txt || die "sft cat changed records"
# export: by index and by key; an image to PNG; many to a directory
sft export -n 1 -o emb-out.npy t.sft
cmp emb-out.npy emb.npy || die "exported .npy differs from the original"
sft export -k img -o img.png t.sft
head -c 8 img.png | od -An -tx1 | grep -q "89 50 4e 47" || die "not a PNG"
sft export -d out -f npy t.sft 2>/dev/null
only_files out 0_img.npy 1_emb.npy 2_ids.npy
cmp out/2_ids.npy ids.npy || die "dir export differs"
sft check t.sft two.sft | check_ok sft_check
sft count t.sft two.sft | check_ok sft_count
