#!/usr/bin/env python3
"""RecordIO goldens written and read by MXNet itself (the oracle).

MXNet is retired and not in Debian; run this in a virtual environment:
    python3 -m venv /tmp/mxvenv
    /tmp/mxvenv/bin/pip install mxnet==1.9.1 'numpy<1.24'
    /tmp/mxvenv/bin/python tests/make_golden_mxnet.py
Outputs (committed, small) go to tests/fixtures/recordio/:
  plain.rec/.idx     records with awkward payloads: the magic word at aligned
                     and unaligned offsets, back to back, at the ends; empty,
                     odd-length; a label array (flag > 0); JPEG and PNG
  plain.expect.csv   MXNet's reading of plain.rec: key, flag, labels, id,
                     id2, length and zlib.crc32 of the bytes after the header
  insightface/       an InsightFace-layout set packed the way InsightFace's
                     dataset_merge.py does (images 1..N, identity records,
                     then the header under key 0; property without newline)
                     from the JPEGs in insightface_src/ (sorted class folders),
                     so `rec-pack insightface_src` must match it byte for byte
  early.rec          early dmlc-core framing (magic 0x3ed7230a, 2-bit cflag),
                     which MXNet no longer writes: built here by hand, with
                     its expect.csv
  bad_*              broken sets for the error tests
"""
import os
import shutil
import struct
import zlib

import mxnet as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "recordio")
IMG = os.path.join(HERE, "fixtures", "image")
MAGIC = struct.pack("<I", 0xCED7230A)


def jpeg(name):
    with open(os.path.join(IMG, name), "rb") as f:
        return f.read()


def expect_csv(path, rows):
    with open(path, "w") as f:
        f.write("key,flag,labels,id,id2,bytes,crc\n")
        for key, h, img in rows:
            labels = h.label if isinstance(h.label, np.ndarray) else [h.label]
            f.write("%s,%d,%s,%d,%d,%d,%08x\n" % (key, h.flag, " ".join("%.9g" % v for v in labels),
                                                  h.id, h.id2, len(img), zlib.crc32(img)))


def read_back(idx, rec):
    r = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    rows = []
    for key in r.keys:
        h, img = mx.recordio.unpack(r.read_idx(key))
        rows.append((key, h, img))
    r.close()
    return rows


def make_plain():
    pay = [
        (3.0, jpeg("jpeg420.jpg")),
        (1.0, MAGIC + b"abcd" + MAGIC + b"xy"),           # magic right after the header, then again
        (2.0, MAGIC + MAGIC + MAGIC),                      # back to back, nothing else
        (4.0, b"z" + MAGIC + b"www"),                      # unaligned: must not split
        (5.0, b""),                                        # empty image
        ([7.0, 1.5, -2.25], b"label array" + MAGIC),      # flag 3, magic at the very end
        (6.0, b"odd"),
        (0.0, jpeg("png8.png")),
        (8.0, b"q" * 4096 + MAGIC + b"r" * 7),
    ]
    rec, idx = os.path.join(OUT, "plain.rec"), os.path.join(OUT, "plain.idx")
    w = mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    for i, (label, img) in enumerate(pay):
        w.write_idx(i * 10, mx.recordio.pack(mx.recordio.IRHeader(0, label, i, 100 + i), img))
    w.close()
    expect_csv(os.path.join(OUT, "plain.expect.csv"), read_back(idx, rec))


def make_insightface():
    src = os.path.join(OUT, "insightface_src")
    shutil.rmtree(src, ignore_errors=True)
    layout = {"alice": ["jpeg420.jpg", "jpeg444.jpg"], "bob": ["jpeggray.jpg"], "carol": ["jpeg422.jpg", "jpegprog.jpg", "png8.png"]}
    for cls, files in layout.items():
        os.makedirs(os.path.join(src, cls))
        for fn in files:
            shutil.copy(os.path.join(IMG, fn), os.path.join(src, cls, fn))
    dst = os.path.join(OUT, "insightface")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    w = mx.recordio.MXIndexedRecordIO(os.path.join(dst, "train.idx"), os.path.join(dst, "train.rec"), "w")
    idx, identities = 1, []
    for label, cls in enumerate(sorted(layout)):
        first = idx
        for fn in sorted(layout[cls]):
            with open(os.path.join(src, cls, fn), "rb") as f:
                img = f.read()
            w.write_idx(idx, mx.recordio.pack(mx.recordio.IRHeader(0, float(label), idx, 0), img))
            idx += 1
        identities.append((first, idx))
    id_first = idx
    for rng in identities:  # as dataset_merge.py: IRHeader(1, (a, b), idx, 0)
        w.write_idx(idx, mx.recordio.pack(mx.recordio.IRHeader(1, rng, idx, 0), b""))
        idx += 1
    w.write_idx(0, mx.recordio.pack(mx.recordio.IRHeader(1, (id_first, idx), 0, 0), b""))
    w.close()
    with open(os.path.join(dst, "property"), "w") as f:
        f.write("%d,%d,%d" % (len(identities), 24, 32))
    expect_csv(os.path.join(OUT, "insightface.expect.csv"),
               read_back(os.path.join(dst, "train.idx"), os.path.join(dst, "train.rec")))


def make_early():
    """Early dmlc framing: lrec = cflag << 30 | length, magic 0x3ed7230a."""
    magic = struct.pack("<I", 0x3ED7230A)
    recs = [mx.recordio.pack(mx.recordio.IRHeader(0, 1.0, 0, 0), b"early one"),
            mx.recordio.pack(mx.recordio.IRHeader(0, 2.0, 1, 0), b"abcd" + magic + b"efgh")]
    out, rows = bytearray(), []
    for key, r in enumerate(recs):
        parts, start = [], 0
        for i in range(0, len(r) - len(r) % 4, 4):
            if r[i:i + 4] == magic:
                parts.append(r[start:i])
                start = i + 4
        parts.append(r[start:])
        for j, p in enumerate(parts):
            cflag = 0 if len(parts) == 1 else (1 if j == 0 else (3 if j == len(parts) - 1 else 2))
            out += magic + struct.pack("<I", cflag << 30 | len(p)) + p + b"\0" * (-len(p) % 4)
        h, img = mx.recordio.unpack(r)
        rows.append((key, h, img))
    with open(os.path.join(OUT, "early.rec"), "wb") as f:
        f.write(out)
    expect_csv(os.path.join(OUT, "early.expect.csv"), rows)


def make_bad():
    good = os.path.join(OUT, "insightface")
    with open(os.path.join(good, "train.rec"), "rb") as f:
        rec = f.read()
    # an identity record whose range disagrees with the labels (bob gets 1 more image)
    d = os.path.join(OUT, "bad_identity")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    w = mx.recordio.MXIndexedRecordIO(os.path.join(d, "train.idx"), os.path.join(d, "train.rec"), "w")
    r = mx.recordio.MXIndexedRecordIO(os.path.join(good, "train.idx"), os.path.join(good, "train.rec"), "r")
    for key in r.keys:
        s = r.read_idx(key)
        h, img = mx.recordio.unpack(s)
        if key == 8:  # bob's identity record: [3, 4) -> [3, 5)
            s = mx.recordio.pack(mx.recordio.IRHeader(1, (3, 5), key, 0), b"")
        w.write_idx(key, s)
    w.close()
    r.close()
    # ranges that add up, but image 4 (carol's) relabelled as bob's
    d = os.path.join(OUT, "bad_label")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    w = mx.recordio.MXIndexedRecordIO(os.path.join(d, "train.idx"), os.path.join(d, "train.rec"), "w")
    r = mx.recordio.MXIndexedRecordIO(os.path.join(good, "train.idx"), os.path.join(good, "train.rec"), "r")
    for key in r.keys:
        s = r.read_idx(key)
        if key == 4:
            h, img = mx.recordio.unpack(s)
            s = mx.recordio.pack(mx.recordio.IRHeader(0, 1.0, 4, 0), img)
        w.write_idx(key, s)
    w.close()
    r.close()
    # an .idx whose offset points into the middle of a record
    with open(os.path.join(good, "train.idx")) as f:
        lines = f.read().splitlines()
    key, off = lines[2].split("\t")
    lines[2] = "%s\t%d" % (key, int(off) + 8)
    d = os.path.join(OUT, "bad_idx")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(os.path.join(good, "train.rec"), os.path.join(d, "train.rec"))
    with open(os.path.join(d, "train.idx"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # a .rec cut inside its third record, and one whose second record's image is damaged
    with open(os.path.join(OUT, "plain.idx")) as f:
        offs = [int(l.split("\t")[1]) for l in f.read().splitlines()]
    with open(os.path.join(OUT, "plain.rec"), "rb") as f:
        plain = f.read()
    with open(os.path.join(OUT, "bad_truncated.rec"), "wb") as f:
        f.write(plain[:offs[2] + 12])
    img = jpeg("jpeg444.jpg")
    w = mx.recordio.MXIndexedRecordIO(os.path.join(OUT, "bad_image.idx"), os.path.join(OUT, "bad_image.rec"), "w")
    w.write_idx(0, mx.recordio.pack(mx.recordio.IRHeader(0, 0.0, 0, 0), img))
    w.write_idx(1, mx.recordio.pack(mx.recordio.IRHeader(0, 1.0, 1, 0), img[:len(img) // 2]))
    w.write_idx(2, mx.recordio.pack(mx.recordio.IRHeader(0, 2.0, 2, 0), img))
    w.write_idx(3, mx.recordio.pack(mx.recordio.IRHeader(0, float("nan"), 3, 0), img))
    w.write_idx(4, mx.recordio.pack(mx.recordio.IRHeader(0, 4.0, 4, 0), img))
    w.close()


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_plain()
    make_insightface()
    make_early()
    make_bad()
    print("mxnet", mx.__version__, "numpy", np.__version__)
