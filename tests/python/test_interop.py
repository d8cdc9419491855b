"""Interop between the C tools and Python/numpy.

The stream reader under test is the one printed in docs/stream-format.md,
extracted at run time, so the documentation cannot drift from the format.
Run by `make test` (tests/python/run.sh) with LC_BIN pointing at the tools.
"""
import os
import re
import subprocess
import tempfile
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LC_BIN", os.path.join(ROOT, "bin"))
SFT = os.path.join(BIN, "sft")


def load_doc_reader():
    text = open(os.path.join(ROOT, "docs", "stream-format.md")).read()
    m = re.search(r"<!-- numpy-reader-begin -->\s*```python\n(.*?)```\s*<!-- numpy-reader-end -->", text, re.S)
    assert m, "the numpy reader is missing from docs/stream-format.md"
    ns = {}
    exec(compile(m.group(1), "docs/stream-format.md", "exec"), ns)
    return ns["read_sft"]


read_sft = load_doc_reader()


def slurp(path):
    with open(path, "rb") as f:
        return f.read()


def sft(*args, **kw):
    return subprocess.run([SFT, *args], check=True, capture_output=True, **kw)


class Interop(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.d, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return list(read_sft(f))

    def test_every_dtype_reads_back_in_numpy(self):
        rng = np.random.default_rng(1)
        arrays = {
            "u8": rng.integers(0, 256, (3, 4, 3)).astype(np.uint8),
            "i8": rng.integers(-128, 128, (5,)).astype(np.int8),
            "u16": rng.integers(0, 65536, (2, 2)).astype(np.uint16),
            "i16": rng.integers(-30000, 30000, (2, 3)).astype(np.int16),
            "u32": rng.integers(0, 2**32, (4,), dtype=np.uint64).astype(np.uint32),
            "i32": rng.integers(-2**31, 2**31, (1, 1, 1, 5)).astype(np.int32),
            "u64": rng.integers(0, 2**63, (3,), dtype=np.uint64),
            "i64": rng.integers(-2**62, 2**62, (2, 2)),
            "f16": rng.standard_normal((6,)).astype(np.float16),
            "f32": rng.standard_normal((2, 512)).astype(np.float32),
            "f64": rng.standard_normal((3, 3)),
            "scalar": np.float32(2.5),
        }
        files = []
        for name, a in arrays.items():
            np.save(self.path(name + ".npy"), a)
            files.append(self.path(name + ".npy"))
        sft("pack-npy", "-o", self.path("all.sft"), "-m", "source=interop", *files)
        recs = self.read("all.sft")
        self.assertEqual([r["key"] for _, r in recs], list(arrays))
        hdr = recs[0][0]
        self.assertEqual(hdr["kind"], "tensors")
        self.assertIn("source=interop", hdr["meta"])
        self.assertIn("history=sft pack-npy", hdr["meta"])
        for (_, r), (name, a) in zip(recs, arrays.items()):
            self.assertEqual(r["data"].dtype, a.dtype, name)
            self.assertEqual(r["data"].shape, a.shape, name)
            np.testing.assert_array_equal(r["data"], a, name)

    def test_split_labels_and_floats(self):
        x = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
        labels = np.array([[3, -1], [4, 0], [5, 7], [6, 2**40], [7, 9]], np.int64)
        floats = np.linspace(0, 1, 10).reshape(5, 2)
        np.save(self.path("x.npy"), x)
        np.save(self.path("l.npy"), labels)
        np.save(self.path("f.npy"), floats)
        sft("pack-npy", "--split", "--kind", "embeddings", "--labels", self.path("l.npy"),
            "--floats", self.path("f.npy"), "-o", self.path("s.sft"), self.path("x.npy"))
        recs = self.read("s.sft")
        self.assertEqual(len(recs), 5)
        self.assertEqual(recs[0][0]["kind"], "embeddings")
        for i, (_, r) in enumerate(recs):
            self.assertEqual(r["key"], "x/%d" % i)
            np.testing.assert_array_equal(r["data"], x[i])
            np.testing.assert_array_equal(r["labels"], labels[i])
            np.testing.assert_array_equal(r["floats"], floats[i].astype(np.float32))
        # a row count that does not match is an error, and no file appears
        np.save(self.path("l4.npy"), labels[:4])
        p = subprocess.run([SFT, "pack-npy", "--split", "--labels", self.path("l4.npy"), "-o",
                            self.path("bad.sft"), self.path("x.npy")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("l4.npy", p.stderr)
        self.assertFalse(os.path.exists(self.path("bad.sft")))
        self.assertEqual(sorted(os.listdir(self.d)), ["f.npy", "l.npy", "l4.npy", "s.sft", "x.npy"])

    def test_concatenated_streams_and_slices(self):
        for n in (2, 3):
            np.save(self.path("a%d.npy" % n), np.arange(n * 4, dtype=np.int32).reshape(n, 4))
            sft("pack-npy", "--split", "-o", self.path("a%d.sft" % n), self.path("a%d.npy" % n))
        with open(self.path("cat.sft"), "wb") as f:
            for n in (2, 3):
                f.write(slurp(self.path("a%d.sft" % n)))
        recs = self.read("cat.sft")
        self.assertEqual([r["key"] for _, r in recs], ["a2/0", "a2/1", "a3/0", "a3/1", "a3/2"])
        self.assertEqual(sft("count", self.path("cat.sft")).stdout, b"5\n")
        sft("cat", "-o", self.path("joined.sft"), self.path("a2.sft"), self.path("a3.sft"))
        self.assertEqual([r["key"] for _, r in self.read("joined.sft")], [r["key"] for _, r in recs])
        sft("slice", "-i", self.path("cat.sft"), "-o", self.path("sl.sft"), "1,3:")
        self.assertEqual([r["key"] for _, r in self.read("sl.sft")], ["a2/1", "a3/1", "a3/2"])

    def test_doc_reader_rejects_corruption(self):
        np.save(self.path("v.npy"), np.ones((4, 8), np.float32))
        sft("pack-npy", "--split", "-o", self.path("v.sft"), self.path("v.npy"))
        data = bytearray(slurp(self.path("v.sft")))
        data[64 * 3 + 5] ^= 1   # inside the first payload
        with open(self.path("bad.sft"), "wb") as f:
            f.write(data)
        with self.assertRaises(ValueError):
            self.read("bad.sft")
        with open(self.path("cut.sft"), "wb") as f:
            f.write(slurp(self.path("v.sft"))[:-64])
        with self.assertRaises(ValueError):
            self.read("cut.sft")

    def test_export_npy_is_byte_identical_to_numpy(self):
        rng = np.random.default_rng(2)
        for name, a in {"m": rng.standard_normal((3, 5)).astype(np.float32),
                        "h": rng.integers(0, 9, (2, 3, 4)).astype(np.int64),
                        "b": rng.integers(0, 256, (7,)).astype(np.uint8)}.items():
            np.save(self.path(name + ".npy"), a)
            sft("pack-npy", "-o", self.path(name + ".sft"), self.path(name + ".npy"))
            sft("export", "-n", "0", "-o", self.path(name + "-out.npy"), self.path(name + ".sft"))
            self.assertEqual(slurp(self.path(name + "-out.npy")), slurp(self.path(name + ".npy")), name)

    def test_export_png_respects_bgr(self):
        try:
            import cv2
        except ImportError:
            self.skipTest("python3-opencv not installed: BGR check against cv2.imread skipped")
        img = np.zeros((6, 8, 3), np.uint8)
        img[..., 0] = 200   # blue in BGR
        img[2, 3] = (1, 2, 3)
        np.save(self.path("img.npy"), img)
        sft("pack-npy", "--kind", "images", "-m", "channels=BGR", "-o", self.path("img.sft"), self.path("img.npy"))
        sft("export", "-k", "img", "-o", self.path("img.png"), self.path("img.sft"))
        back = cv2.imread(self.path("img.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(back, img)


if __name__ == "__main__":
    unittest.main()
