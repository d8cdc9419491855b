#!/usr/bin/env python3
"""Compare the tensors of safetensors files with numpy alone (the reader of
docs/checkpoints.md): st_tensors.py A B exits 1 unless every tensor of A
and B has the same name, dtype, shape and bytes; st_tensors.py A lists;
st_tensors.py --close PREFIX TOL A B exits 1 unless the float tensors
whose names start with PREFIX, taken together, differ by at most TOL
relative (|A - B| / |B|, Euclidean norms)."""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], DTYPES[t["dtype"]]).reshape(t["shape"])
    return out, meta


def close(prefix, tol, path_a, path_b):
    a, _ = load_safetensors(path_a)
    b, _ = load_safetensors(path_b)
    names = sorted(k for k in b if k.startswith(prefix) and b[k].dtype.kind == "f")
    if not names or any(k not in a for k in names):
        print("%s: no tensors %s* or not in both" % (path_b, prefix))
        return 1
    va = np.concatenate([a[k].astype(np.float64).ravel() for k in names])
    vb = np.concatenate([b[k].astype(np.float64).ravel() for k in names])
    rel = np.linalg.norm(va - vb) / max(np.linalg.norm(vb), 1e-300)
    print("%s*: %d tensors, relative difference %.3g (tolerance %g)" % (prefix, len(names), rel, tol))
    return 0 if rel <= tol else 1


def main():
    if sys.argv[1] == "--close":
        return close(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5])
    a, meta = load_safetensors(sys.argv[1])
    if len(sys.argv) == 2:
        for k, v in a.items():
            print(k, v.dtype, v.shape)
        print("metadata", meta)
        return 0
    b, _ = load_safetensors(sys.argv[2])
    if sorted(a) != sorted(b):
        print("names differ:", sorted(set(a) ^ set(b))[:10])
        return 1
    bad = [k for k in a if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
    for k in bad[:10]:
        print("%s differs (max |diff| %g)" % (k, np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
