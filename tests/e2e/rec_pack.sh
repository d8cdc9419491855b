# rec-pack: byte-identical to MXNet's writer for the same payloads (the
# InsightFace-layout golden), readable back, and round trips exact.
. "$E2E_DIR/lib.sh"
R=$FIX/recordio
rec-pack -o out "$R/insightface_src"
cmp out/train.rec "$R/insightface/train.rec" || die "train.rec differs from MXNet's"
cmp out/train.idx "$R/insightface/train.idx" || die "train.idx differs from MXNet's"
cmp out/property "$R/insightface/property" || die "property differs"
head -n 1 out/train.lst | grep -qP '^1\t0.000000\talice/jpeg420.jpg$' || die "lst: $(head -n 1 out/train.lst)"

# a stream of encoded images (rec-unpack --raw) packs to the same bytes
rec-unpack --raw "$R/insightface" | rec-pack -o out2 -
cmp out2/train.rec "$R/insightface/train.rec" || die "stream -> rec-pack differs"

# plain (im2rec) layout: the round trip keeps every payload and label array
rec-unpack --raw -o a.sft "$R/plain.rec"
rec-pack --plain -o p a.sft
[ ! -e p/property ] || die "--plain wrote a property file"
rec-unpack --raw -o b.sft p
sft list a.sft | tail -n +3 | cut -f4,9 > a.txt
sft list b.sft | tail -n +3 | cut -f4,9 > b.txt
diff a.txt b.txt || die "round trip changed payloads or labels"

# raw pixels are encoded (JPEG q95 here, PNG lossless)
rec-unpack -o px.sft "$R/insightface"
rec-pack --png -o png px.sft
rec-unpack -o back.sft png
sft list px.sft | tail -n +3 | cut -f9 > a.txt
sft list back.sft | tail -n +3 | cut -f9 > b.txt
diff a.txt b.txt || die "PNG round trip is not lossless"
rec-pack -q 90 -o jpg px.sft
[ "$(rec-unpack --list jpg | tail -n +2 | cut -d, -f9 | sort -u)" = jpeg ] || die "not JPEG"

# ungrouped classes cannot make an InsightFace set; nothing is left behind
sft slice 3,0,5 -i px.sft -o x.sft 2>/dev/null || sft cat -o x.sft <(sft slice 3:4 -i px.sft) <(sft slice 0:1 -i px.sft) <(sft slice 4:5 -i px.sft)
expect_status 1 "each class's images together" -- rec-pack -o bad x.sft
only_files bad
expect_status 2 "-o DIR is required" -- rec-pack px.sft
