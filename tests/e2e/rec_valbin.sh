# rec-unpack on InsightFace .bin validation sets (fixtures pickled by Python
# in every layout real files use): the 2N images decode in order, each
# carries its pair's label, --pairs lists the N pairs; broken sets fail
# with the file and byte offset.
. "$E2E_DIR/lib.sh"
P=$FIX/pickle
for f in valbin_p2 valbin_p3 valbin_p4 valbin_py2_p0 valbin_py2_p2 valbin_npbool_p2 valbin_npbool_p4 valbin_npscalar_p4; do
    rec-unpack --pairs "$f.pairs.sft" -o "$f.sft" "$P/$f.bin"
    sft list "$f.sft" | tail -n +3 | cut -f2,3,6,9 > "$f.txt"
    sft list "$f.pairs.sft" | tail -n +3 | cut -f2,3 > "$f.pairs.txt"
done
# every layout gives the same images and labels (keys carry the file name)
for f in valbin_p3 valbin_p4 valbin_py2_p0 valbin_py2_p2 valbin_npbool_p2 valbin_npbool_p4 valbin_npscalar_p4; do
    diff <(sed 's/^[^\/]*\///' valbin_p2.txt) <(sed 's/^[^\/]*\///' "$f.txt") || die "$f decodes differently from valbin_p2"
    diff <(sed 's/[a-z0-9_]*\//X\//g' valbin_p2.pairs.txt) <(sed 's/[a-z0-9_]*\//X\//g' "$f.pairs.txt") || die "$f pairs differ"
done
sft list valbin_p2.sft | tail -n +3 | cut -f2,3,6 | check_ok rec_valbin_images
sft list valbin_p2.pairs.sft | tail -n +3 | cut -f2,3 | check_ok rec_valbin_pairs
sft info valbin_p2.sft | grep -q "dataset=valbin_p2" || die "dataset name"
sft info valbin_p2.sft | grep -q "pairs=adjacent" || die "pairs metadata"
# images decode like the fixture JPEGs they were made from (pixels via the PNG export)
rec-unpack --raw -o raw.sft "$P/valbin_p4.bin"
[ "$(sft count raw.sft)" = "$(sft count valbin_p4.sft)" ] || die "--raw count"
# refusals
expect_status 1 'valbin_count_mismatch.bin: .*' -- rec-unpack -o x.sft "$P/valbin_count_mismatch.bin"
expect_status 1 'valbin_evil.bin: byte [0-9]+: .*not allowed' -- rec-unpack -o x.sft "$P/valbin_evil.bin"
expect_status 1 'valbin_trailing.bin: byte [0-9]+: ' -- rec-unpack -o x.sft "$P/valbin_trailing.bin"
expect_status 1 'valbin_not_bool.bin: ' -- rec-unpack -o x.sft "$P/valbin_not_bool.bin"
[ ! -e x.sft ] || die "a refused set left output"
expect_status 2 'needs a validation .bin set' -- rec-unpack --pairs p.sft -o x.sft "$FIX/recordio/plain.rec"
