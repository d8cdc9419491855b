#!/usr/bin/python3
"""Golden fixtures for the C tests, produced by the reference libraries.

Run with Debian's interpreter: /usr/bin/python3 tests/make_golden.py
(needs python3-numpy, python3-opencv, python3-torch). Outputs go to
tests/fixtures/ and are committed, so CI needs none of these libraries.
Every input is generated here from a fixed seed; nothing is downloaded.

Sections:
  image/      JPEG and PNG files and what cv2.imdecode(IMREAD_COLOR) makes
              of them (the reference reads every image with OpenCV)
  normalize/  torchvision-style ToTensor+Normalize(0.5, 0.5) in torch
  npy/        .npy files exactly as numpy writes them (several versions)
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")


def out(*parts):
    p = os.path.join(FIX, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def test_pattern(rng, h, w, c):
    """Smooth gradients plus noise: realistic for JPEG, not constant."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                     ((x + y) * 255 // max(h + w - 2, 1))], axis=-1)[..., :c]
    noise = rng.integers(-20, 21, size=(h, w, c))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_image():
    import cv2
    rng = np.random.default_rng(20261128)
    cases = []
    img = test_pattern(rng, 24, 32, 3)
    # JPEG: 4:2:0 (cv2 default), 4:4:4, 4:2:2, grayscale, progressive, odd size
    ok, b = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90]); cases.append(("jpeg420.jpg", b))
    # OpenCV 4.6 cannot choose subsampling; PIL (same libjpeg-turbo) can.
    import io
    from PIL import Image
    for name, sub, q in (("jpeg444.jpg", 0, 95), ("jpeg422.jpg", 1, 75)):
        bio = io.BytesIO()
        Image.fromarray(img[..., ::-1]).save(bio, "JPEG", quality=q, subsampling=sub)
        cases.append((name, bio.getvalue()))
    gray = test_pattern(rng, 17, 23, 1)[..., 0]
    ok, b = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 85]); cases.append(("jpeggray.jpg", b))
    ok, b = cv2.imencode(".jpg", test_pattern(rng, 19, 21, 3),
                         [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]); cases.append(("jpegprog.jpg", b))
    # PNG: 8-bit BGR, gray, BGRA (alpha dropped, not composited), 16-bit, palette via gray 2-bit
    ok, b = cv2.imencode(".png", img); cases.append(("png8.png", b))
    ok, b = cv2.imencode(".png", gray); cases.append(("pnggray.png", b))
    bgra = np.concatenate([img, rng.integers(0, 256, size=(24, 32, 1), dtype=np.uint8)], axis=-1)
    ok, b = cv2.imencode(".png", bgra); cases.append(("pngalpha.png", b))
    img16 = (test_pattern(rng, 13, 11, 3).astype(np.uint16) * 257 + rng.integers(0, 257, size=(13, 11, 3))).astype(np.uint16)
    ok, b = cv2.imencode(".png", img16); cases.append(("png16.png", b))
    g16 = (test_pattern(rng, 9, 14, 1)[..., 0].astype(np.uint16) * 256 + 77).astype(np.uint16)
    ok, b = cv2.imencode(".png", g16); cases.append(("pnggray16.png", b))
    for name, data in cases:
        data = np.asarray(data).tobytes()
        with open(out("image", name), "wb") as f:
            f.write(data)
        arr = np.frombuffer(data, np.uint8)
        dec = cv2.imdecode(arr, cv2.IMREAD_COLOR)
        np.save(out("image", name + ".bgr.npy"), np.ascontiguousarray(dec))
        dg = cv2.imdecode(arr, cv2.IMREAD_GRAYSCALE)
        if name.startswith("jpeg"):  # libjpeg's own gray conversion; PNG gray differs by weights
            np.save(out("image", name + ".gray.npy"), np.ascontiguousarray(dg))
    print("image: %d cases" % len(cases))


def make_normalize():
    import torch
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)   # N,H,W,C (BGR)
    np.save(out("normalize", "x.npy"), x)
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0)
    y = (t - 0.5) / 0.5   # torchvision Normalize(mean=0.5, std=0.5)
    np.save(out("normalize", "y_bgr.npy"), y.numpy())
    y_rgb = y.flip(1)      # channels reversed: BGR -> RGB
    np.save(out("normalize", "y_rgb.npy"), y_rgb.numpy())
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    np.save(out("normalize", "y_imagenet.npy"), ((t - mean) / std).numpy())
    print("normalize: torch", torch.__version__)


def make_npy():
    rng = np.random.default_rng(3)
    arrays = {
        "f32_2x3": rng.standard_normal((2, 3)).astype(np.float32),
        "u8_4x5x3": rng.integers(0, 256, (4, 5, 3)).astype(np.uint8),
        "i64_7": rng.integers(-2**40, 2**40, 7).astype(np.int64),
        "f16_3x2": rng.standard_normal((3, 2)).astype(np.float16),
        "f64_scalar": np.float64(3.25),
        "i32_0x4": np.zeros((0, 4), np.int32),
        "u16_1x2x3x4": rng.integers(0, 65536, (1, 2, 3, 4)).astype(np.uint16),
    }
    for name, a in arrays.items():
        np.save(out("npy", name + ".npy"), a)
    # version 2.0 header, as numpy writes for huge headers
    from numpy.lib import format as fmt
    with open(out("npy", "v2_f32_2x3.npy"), "wb") as f:
        fmt.write_array(f, arrays["f32_2x3"], version=(2, 0))
    np.save(out("npy", "object.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(out("npy", "fortran.npy"), np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))
    print("npy: numpy", np.__version__)


def make_real():
    """What OpenCV decodes from the real third-party data in ../shared/data
    (see its SOURCES.md), as CRCs of the BGR pixels: the data itself is not
    ours to commit. One CSV per dataset: key,label,crc32 of cv2.imdecode."""
    import pickle
    import zlib
    import cv2
    data = os.environ.get("LC_SHARED_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data"))
    if not os.path.isdir(data):
        print("real: %s not found, skipped" % data)
        return
    def crc(buf):
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
        return "%08x" % zlib.crc32(np.ascontiguousarray(img).tobytes())
    def write(name, rows):
        with open(out("real", name + ".csv"), "w") as f:
            f.write("key,label,crc\n")
            for r in rows:
                f.write("%s,%s,%s\n" % r)
    # RecordIO, read with a transcription of mx.recordio (idx order, IRHeader <IfQQ)
    import struct
    for name, rec in (("faceid_testing", "recordio/faceid-processing/testing"),
                      ("faceid_validation", "recordio/faceid-processing/validation"),
                      ("popkorn", "recordio/popkorn-adaface/train"),
                      ("enkhtogtokh", "recordio/enkhtogtokh-transfer_learning/train"),
                      ("pythxnbite", "recordio/pythxnbite-image-detect/val")):
        blob = open(os.path.join(data, rec + ".rec"), "rb").read()
        rows = []
        for line in open(os.path.join(data, rec + ".idx")).read().splitlines():
            key, off = line.split("\t")
            off = int(off)
            magic, lrec = struct.unpack_from("<II", blob, off)
            assert magic == 0xCED7230A and lrec >> 29 == 0
            payload = blob[off + 8:off + 8 + (lrec & (2**29 - 1))]
            flag, label, _id, _id2 = struct.unpack_from("<IfQQ", payload)
            if flag > 0:
                label = struct.unpack_from("<f", payload, 24)[0]
            rows.append((key, int(label), crc(payload[24 + 4 * flag:])))
        write(name, rows)
    for name in ("training", "validation"):
        with open(os.path.join(data, "verification_bin/faceid-processing/%s.bin" % name), "rb") as f:
            bins, issame = pickle.load(f, encoding="bytes")
        write("bin_" + name, [("%s/%d" % (name, i), int(issame[i // 2]), crc(b)) for i, b in enumerate(bins)])
    for name, sub in (("folder_testing", "testing"), ("folder_png", "dataset_png")):
        root = os.path.join(data, "faces/faceid-processing", sub)
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        rows = []
        for label, c in enumerate(classes):
            for fn in sorted(os.listdir(os.path.join(root, c))):
                with open(os.path.join(root, c, fn), "rb") as f:
                    rows.append(("%s/%s" % (c, fn), label, crc(f.read())))
        write(name, rows)
    print("real: OpenCV", cv2.__version__)


if __name__ == "__main__":
    want = sys.argv[1:] or ["image", "normalize", "npy", "real"]
    for w in want:
        globals()["make_" + w]()
