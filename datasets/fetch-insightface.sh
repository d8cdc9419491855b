#!/usr/bin/env bash
# Download and unpack an InsightFace dataset archive (faces_emore,
# faces_vgg_112x112, faces_webface_112x112, ...), then check it.
#
#   datasets/fetch-insightface.sh URL DEST_DIR
#
# URL: the archive's link from InsightFace's dataset page,
#   https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_
# (links change over time, so they are not baked in here). Google Drive
# "file/d/ID/view" links are turned into direct downloads. Downloads resume
# (curl -C -) if interrupted. Needs curl and unzip (apt-get install curl unzip).
set -euo pipefail
if [ $# -ne 2 ]; then sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
url=$1 dest=$2
here=$(cd "$(dirname "$0")" && pwd)
for tool in curl unzip; do
    command -v $tool >/dev/null || { echo "fetch-insightface: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
if [[ $url =~ drive\.google\.com/file/d/([A-Za-z0-9_-]+) ]]; then
    url="https://drive.usercontent.google.com/download?id=${BASH_REMATCH[1]}&export=download&confirm=t"
fi
mkdir -p "$dest"
archive="$dest/download.part"
echo "fetch-insightface: downloading $url"
curl -fL -C - --retry 5 -o "$archive" "$url"
case $(head -c 4 "$archive" | od -An -tx1 | tr -d ' ') in
504b0304) ;;
*) echo "fetch-insightface: $archive is not a zip archive (a login page? check the URL)" >&2; exit 1 ;;
esac
unzip -q -o "$archive" -d "$dest"
rm -f "$archive"
for d in "$dest"/*/; do
    [ -f "$d/train.rec" ] && exec "$here/check-insightface.sh" "$d"
done
echo "fetch-insightface: no train.rec found under $dest" >&2
exit 1
