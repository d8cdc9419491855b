#!/usr/bin/python3
"""Synthetic embeddings for the end-to-end tests (numpy only, fixed seeds).

  embgen.py pairs LIST FORMAT OUTDIR   one OUTDIR/<stem>.npy (float32, D=64) per
        image named in a pair list (FORMAT: csv, ssv or lfw); images joined by
        'same' pairs share an identity vector, so scores are meaningful. The
        stem is the key's base name without extension (what `sft pack-npy`
        turns into the record key).
  embgen.py gallery N CLASSES OUTDIR   OUTDIR/emb.npy (N, 64) and labels.npy.
  embgen.py bad OUTDIR                 small (8, 16) arrays with a NaN, an inf
        and labels that disagree, for the bad-input tests.
"""
import csv
import os
import sys

import numpy as np

D = 64


def stem(key):
    base = key.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base[1:] else base


def read_pairs(path, fmt):
    pairs = []
    with open(path, newline="") as f:
        if fmt == "csv":
            rows = list(csv.reader(f))
            for r in rows[1:]:
                if r:
                    pairs.append((r[0], r[1], r[2].strip().lower() in ("yes", "1", "true", "same")))
        elif fmt == "ssv":
            for line in f:
                t = line.split()
                if len(t) == 3:
                    pairs.append((t[0], t[1], t[2] == "1"))
        else:  # lfw
            for line in f:
                t = line.split()
                if len(t) == 3:
                    a, b = int(float(t[1])), int(float(t[2]))
                    pairs.append(("%s/%s_%04d" % (t[0], t[0], a), "%s/%s_%04d" % (t[0], t[0], b), True))
                elif len(t) == 4:
                    a, b = int(float(t[1])), int(float(t[3]))
                    pairs.append(("%s/%s_%04d" % (t[0], t[0], a), "%s/%s_%04d" % (t[2], t[2], b), False))
    return pairs


def cmd_pairs(path, fmt, outdir):
    pairs = read_pairs(path, fmt)
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, same in pairs:
        find(stem(a)), find(stem(b))
        if same:
            parent[find(stem(a))] = find(stem(b))
    keys = sorted(parent)
    roots = sorted({find(k) for k in keys})
    rng = np.random.default_rng(4)
    ident = {r: rng.standard_normal(D) for r in roots}
    os.makedirs(outdir, exist_ok=True)
    for k in keys:
        e = ident[find(k)] + 1.1 * rng.standard_normal(D)
        np.save(os.path.join(outdir, k + ".npy"), e.astype(np.float32))
    print(len(keys))


def cmd_gallery(n, classes, outdir):
    rng = np.random.default_rng(5)
    ident = rng.standard_normal((classes, D))
    lab = np.arange(n) % classes
    e = ident[lab] + 1.2 * rng.standard_normal((n, D))
    os.makedirs(outdir, exist_ok=True)
    np.save(os.path.join(outdir, "emb.npy"), e.astype(np.float32))
    np.save(os.path.join(outdir, "labels.npy"), lab.astype(np.int64))


def cmd_bad(outdir):
    rng = np.random.default_rng(6)
    os.makedirs(outdir, exist_ok=True)
    e = rng.standard_normal((8, 16)).astype(np.float32)
    np.save(os.path.join(outdir, "ok.npy"), e)
    x = e.copy(); x[5, 3] = np.nan
    np.save(os.path.join(outdir, "nan.npy"), x)
    x = e.copy(); x[2, 0] = np.inf
    np.save(os.path.join(outdir, "inf.npy"), x)
    np.save(os.path.join(outdir, "zero.npy"), np.zeros((2, 16), np.float32))
    np.save(os.path.join(outdir, "pairlab.npy"), np.array([1, 1, 0, 0, 1, 1, 0, 0], np.int64))
    np.save(os.path.join(outdir, "disagree.npy"), np.array([1, 1, 0, 1, 1, 1, 0, 0], np.int64))
    np.save(os.path.join(outdir, "two.npy"), np.array([1, 1, 2, 2, 1, 1, 0, 0], np.int64))
    np.save(os.path.join(outdir, "allsame.npy"), np.ones(8, np.int64))
    np.save(os.path.join(outdir, "odd.npy"), e[:7])


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pairs":
        cmd_pairs(args[0], args[1], args[2])
    elif cmd == "gallery":
        cmd_gallery(int(args[0]), int(args[1]), args[2])
    elif cmd == "bad":
        cmd_bad(args[0])
    else:
        sys.exit("unknown command " + cmd)
