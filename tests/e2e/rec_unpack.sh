# rec-unpack on RecordIO written by MXNet (tests/make_golden_mxnet.py):
# payloads, labels and ids as MXNet reads them; threads, selection and
# shards; image folders and archives; bad data named by file, record and
# byte offset; --skip-bad.
. "$E2E_DIR/lib.sh"
R=$FIX/recordio
# key,flag,labels,id,id2,bytes,crc of the image bytes, from the raw stream
# (the stream's payload CRC is zlib.crc32 of exactly those bytes)
raw_table() {
    rec-unpack --raw -o raw.sft "$1"
    rec-unpack --list "$1" | tail -n +2 | cut -d, -f2,4-6,8 > list.csv
    sft list --csv raw.sft | awk -F'"' 'NR > 1 { n = split($0, f, ","); print f[n] }' > crc.txt
    paste -d, list.csv crc.txt
}
# the same from MXNet's expect.csv: key,labels,id,id2,bytes,crc
want_table() { tail -n +2 "$1" | awk -F, '{ print $1 "," $3 "," $4 "," $5 "," $6 "," $7 }'; }

raw_table "$R/plain.rec" > got.csv
want_table "$R/plain.expect.csv" > want.csv
diff want.csv got.csv || die "plain.rec differs from MXNet's reading"
# without the .idx: a sequential scan gives the same records in file order
cat "$R/plain.rec" | rec-unpack --raw -o seq.sft -
[ "$(sft count seq.sft)" = 9 ] || die "stdin scan"
raw_table "$R/early.rec" > got.csv
want_table "$R/early.expect.csv" | sed 's/^\([0-9]*\),/\1,/' > want.csv
diff want.csv got.csv || die "early dmlc framing"

# InsightFace layout: images 1..6 only (identity records and header checked, not emitted)
raw_table "$R/insightface" > got.csv
want_table "$R/insightface.expect.csv" | awk -F, '$1 >= 1 && $1 <= 6' | sort -n > want.csv
diff want.csv got.csv || die "InsightFace set"
rec-unpack -o if.sft "$R/insightface"
sft info if.sft | grep -q "classes=3" || die "classes from the header"
sft info if.sft | grep -q "label\[0\] from 0 to 2" || die "labels"

# threads never change the output; selection and shards
rec-unpack -j 0 -o t0.sft "$R/insightface"
rec-unpack -j 3 -o t3.sft "$R/insightface"
sft list t0.sft | tail -n +3 > a.txt
sft list t3.sft | tail -n +3 > b.txt
cmp a.txt b.txt || die "threads changed the output"
rec-unpack --shard 0/2 -o s0.sft "$R/insightface"
rec-unpack --shard 1/2 -o s1.sft "$R/insightface"
cat s0.sft s1.sft | sft list - | tail -n +3 > c.txt
cmp a.txt c.txt || die "shards 0/2 + 1/2 are not the whole set"
rec-unpack --range 1,4: --limit 2 -o r.sft "$R/insightface"
[ "$(sft list r.sft | tail -n +3 | cut -f2 | tr '\n' ' ')" = "2 5 " ] || die "--range 1,4: --limit 2"

# --to-dir: DIR/LABEL/IDX.jpg holding the original bytes, as convert.py lays it out
rec-unpack --to-dir imgs "$R/insightface"
[ "$(cd imgs && find . -type f | sort | tr '\n' ' ')" = "./0/1.jpg ./0/2.jpg ./1/3.jpg ./2/4.jpg ./2/5.jpg ./2/6.jpg " ] \
    || die "to-dir layout: $(cd imgs && find . -type f | sort)"
cmp imgs/1/3.jpg "$R/insightface_src/bob/jpeggray.jpg" || die "to-dir did not keep the bytes"
rec-unpack --to-dir pngs --format png --swap-rb "$R/insightface"
head -c 4 pngs/2/6.png | od -An -c | grep -q P || die "png output"

# the image folder the set was made from, and a tar.gz of it: same labels and pixels
rec-unpack --class-map classes.csv -o folder.sft "$R/insightface_src"
printf 'label,class,images\n0,alice,2\n1,bob,1\n2,carol,3\n' | diff - classes.csv || die "class map"
sft list folder.sft | tail -n +3 | cut -f3,9 > f.txt
sft list t0.sft | tail -n +3 | awk -F'\t' '{ split($3, l, " "); print l[1] "\t" $9 }' > g.txt
diff g.txt f.txt || die "folder and RecordIO decode differently"
tar czf src.tgz -C "$R" insightface_src
rec-unpack -o tar.sft src.tgz
[ "$(sft count tar.sft)" = 6 ] || die "tar.gz"
sft list tar.sft | tail -n +3 | cut -f3,9 | sort > t.txt
sort f.txt | diff - t.txt || die "the archive decodes differently from the folder"
(cd "$R" && /usr/bin/python3 -m zipfile -c "$OLDPWD/src.zip" insightface_src)
rec-unpack -o zip.sft src.zip
sft list zip.sft | tail -n +3 | cut -f3,9 | sort | diff t.txt - || die "the zip decodes differently from the folder"

# bad data: file, record, byte offset; nothing written
expect_status 1 'bad_identity/train.rec: record 7: the identity records cover 7 images but the header says 6' \
    -- rec-unpack -o x.sft "$R/bad_identity"
expect_status 1 'bad_label/train.rec: record 3 at byte [0-9]+: record 4 has label 1, but identity record 8 gives that class records \[3, 4\)' \
    -- rec-unpack -o x.sft "$R/bad_label"
expect_status 1 'bad_idx/train.rec: record 2 at byte [0-9]+: key 3: no RecordIO record here .*wrong .idx offset' \
    -- rec-unpack -o x.sft "$R/bad_idx"
expect_status 1 'bad_truncated.rec: record 2 at byte [0-9]+: truncated' -- rec-unpack --raw -o x.sft "$R/bad_truncated.rec"
expect_status 1 "bad_image.rec: record 1 at byte [0-9]+: key '1': (corrupt|undecodable) JPEG" -- rec-unpack -o x.sft "$R/bad_image.rec"
expect_status 1 "bad_image.rec: record 3 at byte [0-9]+: label nan is not a class id" -- rec-unpack --list -o x.csv "$R/bad_image.rec"
[ ! -e x.sft ] && [ ! -e x.csv ] || die "a failed run left output"
rec-unpack --skip-bad -o ok.sft "$R/bad_image.rec" 2> skip.txt
[ "$(sft list ok.sft | tail -n +3 | cut -f2 | tr '\n' ' ')" = "0 2 4 " ] || die "--skip-bad kept the wrong records"
grep -q "2 bad records skipped" skip.txt || die "--skip-bad summary: $(cat skip.txt)"
expect_status 2 "--shard needs the number of records" -- rec-unpack --shard 0/2 -o x.sft - < "$R/plain.rec"
expect_status 2 "exclude each other" -- rec-unpack --raw --list "$R/plain.rec"
expect_status 1 "not a dataset this toolkit reads" -- rec-unpack "$FIX/npy/f32_2x3.npy"
