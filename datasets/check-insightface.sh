#!/usr/bin/env bash
# Check an InsightFace dataset directory with the toolkit's own readers:
# every training record parses and matches the identity records, property
# agrees, the image count and class count are those published for the set
# (when the directory's name is a known one), and every validation .bin
# loads with its expected number of pairs.
#
#   datasets/check-insightface.sh DIR     (needs the toolkit built: make)
set -euo pipefail
if [ $# -ne 1 ]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
dir=${1%/}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LC_BIN:-$root/bin}
name=$(basename "$dir")
# published sizes: images, identities
declare -A images=([faces_emore]=5822653 [faces_vgg_112x112]=3137807 [faces_webface_112x112]=490623)
declare -A ids=([faces_emore]=85742 [faces_vgg_112x112]=9131 [faces_webface_112x112]=10572)
declare -A pairs=([lfw]=6000 [cfp_fp]=7000 [cfp_ff]=7000 [agedb_30]=6000 [calfw]=6000 [cplfw]=6000 [vgg2_fp]=5000)
status=0
echo "== $dir"
[ -f "$dir/train.rec" ] && [ -f "$dir/train.idx" ] || { echo "missing train.rec or train.idx"; exit 1; }
classes=$(cut -d, -f1 "$dir/property" 2>/dev/null || echo "?")
echo "property: $(cat "$dir/property" 2>/dev/null || echo missing)"
# a full pass: every record parsed, labels checked against the identity records
n=$("$bin/rec-unpack" --list --progress "$dir" | tail -n +2 | wc -l)
echo "training images: $n"
if [ -n "${images[$name]:-}" ]; then
    [ "$n" = "${images[$name]}" ] || { echo "WARNING: $name is published with ${images[$name]} images"; status=1; }
    [ "$classes" = "${ids[$name]}" ] || { echo "WARNING: $name is published with ${ids[$name]} identities"; status=1; }
fi
for b in "$dir"/*.bin; do
    [ -e "$b" ] || continue
    set_name=$(basename "$b" .bin)
    np=$("$bin/rec-unpack" --pairs - --raw -o /dev/null "$b" | "$bin/sft" count)
    echo "$set_name: $np pairs"
    if [ -n "${pairs[$set_name]:-}" ] && [ "$np" != "${pairs[$set_name]}" ]; then
        echo "WARNING: $set_name is published with ${pairs[$set_name]} pairs"; status=1
    fi
done
[ $status = 0 ] && echo "ok"
exit $status
