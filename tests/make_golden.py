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


def make_pickle():
    """pickle/: InsightFace-style .bin sets (protocols 0-4, Python 2 byte
    layouts assembled by hand since Python 2 is not available, issame as a
    numpy bool array or numpy.bool_ scalars), a nested value with memo
    sharing in every protocol plus its expected rendering, numpy arrays,
    an OrderedDict, a PyTorch data.pkl, and hostile pickles that the reader
    must refuse. Nothing here is ever unpickled except our own output."""
    import collections
    import io
    import pickle
    import struct
    import zipfile

    def w(name, data):
        with open(out("pickle", name), "wb") as f:
            f.write(data)

    names = ["jpeg420.jpg", "jpeg422.jpg", "jpeg444.jpg", "jpeggray.jpg", "jpegprog.jpg", "jpeg420.jpg"]
    images = [open(os.path.join(FIX, "image", n), "rb").read() for n in names]
    issame = [True, False, True]
    with open(out("pickle", "valbin_expect.txt"), "w") as f:
        f.write("".join("image %s\n" % n for n in names))
        f.write("issame %s\n" % " ".join(str(int(x)) for x in issame))

    # Python 3 writers: bytes items; protocol 2 spells them _codecs.encode.
    for proto in (2, 3, 4):
        w("valbin_p%d.bin" % proto, pickle.dumps((images, issame), protocol=proto))
    w("valbin_npbool_p2.bin", pickle.dumps((images, np.array(issame)), protocol=2))
    w("valbin_npbool_p4.bin", pickle.dumps((images, np.array(issame)), protocol=4))
    w("valbin_npscalar_p4.bin", pickle.dumps((images, [np.bool_(x) for x in issame]), protocol=4))

    # Python 2 cPickle, protocol 2: SHORT_BINSTRING/BINSTRING str items,
    # BINPUT after each, MARK..APPENDS, NEWTRUE/NEWFALSE, TUPLE2.
    def py2_p2(items, flags):
        o = bytearray(b"\x80\x02")
        memo = [0]

        def put():
            o.extend(b"q" + bytes([memo[0]]))
            memo[0] += 1
        o += b"]"; put(); o += b"("
        for b in items:
            o += (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b
            put()
        o += b"e]"; put(); o += b"("
        for x in flags:
            o += b"\x88" if x else b"\x89"
        o += b"e\x86"; put(); o += b"."
        return bytes(o)

    # Python 2 pickle, protocol 0 (its default): MARK, lists as (lp, repr()
    # strings as STRING, bools as I01/I00, each followed by PUT and APPEND.
    def py2_p0(items, flags):
        o = bytearray(b"(")
        memo = [0]

        def put():
            o.extend(b"p%d\n" % memo[0])
            memo[0] += 1
        o += b"(l"; put()
        for b in items:
            o += b"S" + repr(b)[1:].encode("ascii") + b"\n"; put(); o += b"a"
        o += b"(l"; put()
        for x in flags:
            o += b"I01\na" if x else b"I00\na"
        o += b"t"; put(); o += b"."
        return bytes(o)
    for name, fn in (("valbin_py2_p2.bin", py2_p2), ("valbin_py2_p0.bin", py2_p0)):
        data = fn(images, issame)
        assert pickle.loads(data, encoding="bytes") == (images, issame), name
        w(name, data)

    # .bin files the reader must refuse
    w("valbin_count_mismatch.bin", pickle.dumps((images[:5], issame), protocol=4))
    w("valbin_int_item.bin", pickle.dumps((images[:3] + [7] + images[4:], issame), protocol=4))
    w("valbin_text_item.bin", pickle.dumps((images[:2] + ["text"] + images[3:], issame), protocol=3))
    w("valbin_empty_item.bin", pickle.dumps((images[:5] + [b""], issame), protocol=4))
    w("valbin_not_bool.bin", pickle.dumps((images, [True, 2, False]), protocol=2))
    w("valbin_trailing.bin", pickle.dumps((images, issame), protocol=4) + b"\x00junk")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    w("valbin_evil.bin", pickle.dumps((images[:5] + [Evil()], issame), protocol=2))

    # A nested value with memo sharing, in every protocol, and its rendering.
    shared = [1, "two", b"three"]
    value = {
        "none": None, "t": True, "f": False,
        "ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**40, -2**63, 2**63 - 1, 10**18],
        "floats": [0.0, -0.0, 1.5, -2.25, 1e300, 1e-300, float("inf"), -float("inf"), 0.1],
        "bytes": [b"", b"abc", bytes(range(256))],
        "text": ["", "ascii", "caf\u00e9", "\u2713 check", "\U0001F600", "back\\slash\nnew\rline\x00\x1a"],
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "nested": {"k": (shared, shared), "deeper": [[[["x"]]]]},
        "shared": shared,
        "empty": [[], {}, ()],
        7: "int key",
        (1, 2): "tuple key",
    }

    def esc(b):
        return "".join(chr(c) if 0x20 <= c < 0x7f and c not in (0x5c, 0x27) else "\\x%02x" % c for c in b)

    def render(x):
        if x is None or isinstance(x, bool):
            return repr(x)
        if isinstance(x, int):
            return str(x)
        if isinstance(x, float):
            return "%.17g" % x
        if isinstance(x, bytes):
            return "b'%s'" % esc(x)
        if isinstance(x, str):
            return "u'%s'" % esc(x.encode("utf-8"))
        if isinstance(x, tuple):
            return "(%s)" % ", ".join(render(i) for i in x)
        if isinstance(x, list):
            return "[%s]" % ", ".join(render(i) for i in x)
        if isinstance(x, dict):
            return "{%s}" % ", ".join("%s: %s" % (render(k), render(v)) for k, v in x.items())
        raise TypeError(type(x))
    with open(out("pickle", "nested.txt"), "w") as f:
        f.write(render(value) + "\n")
    for proto in range(6):
        data = pickle.dumps(value, protocol=proto)
        assert pickle.loads(data) == value
        w("nested_p%d.pkl" % proto, data)

    od = collections.OrderedDict([("b", 1), ("a", [2]), ("c", None)])
    w("ordereddict_p2.pkl", pickle.dumps(od, protocol=2))
    w("ordereddict_p4.pkl", pickle.dumps(od, protocol=4))
    w("set_p4.pkl", pickle.dumps([{1}, frozenset([2]), bytearray(b"ba")], protocol=5))

    # numpy arrays and scalars, and what they hold (Fortran order: the C
    # order of the transpose, which is the pickled byte order).
    rng = np.random.default_rng(11)
    arrays = {
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "u8": rng.integers(0, 256, (4, 5, 3)).astype(np.uint8),
        "i64": rng.integers(-2**40, 2**40, 7).astype(np.int64),
        "f16": rng.standard_normal((3, 2)).astype(np.float16),
        "bool": np.array([True, False, True, True]),
        "f64scalar": np.float64(3.25),
        "i32scalar": np.int32(-7),
        "fortran": np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)),
        "empty": np.zeros((0, 4), np.int32),
        "u16_4d": rng.integers(0, 65536, (1, 2, 3, 4)).astype(np.uint16),
    }
    for proto in (2, 4):
        w("ndarray_p%d.pkl" % proto, pickle.dumps(arrays, protocol=proto))
    for name, a in arrays.items():
        np.save(out("pickle", "ndarray", name + ".npy"), np.ascontiguousarray(a.T) if name == "fortran" else a)
    # an object array in an .npy, as the MTCNN weights are stored
    np.save(out("pickle", "objarray.npy"), np.array({"w": arrays["f32"], "b": arrays["i64"]}, dtype=object),
            allow_pickle=True)

    # PyTorch's data.pkl: persistent ids and _rebuild_tensor_v2
    import torch
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(2, 1, 3, 3, generator=g)
    sd["bn.num_batches_tracked"] = torch.tensor(5)
    sd["fc.weight"] = torch.randn(3, 4, generator=g).t()
    buf = io.BytesIO()
    torch.save(sd, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    w("torch_state_dict.pkl", z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0]))

    # hostile or broken pickles (each refused with the error the test names)
    class EvalIt:
        def __reduce__(self):
            return (eval, ("__import__('os').system('echo pwned')",))
    w("evil_os_system_p0.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
    w("evil_eval_p4.pkl", pickle.dumps(EvalIt(), protocol=4))
    w("evil_inst_p0.pkl", b"(S'echo pwned'\nios\nsystem\n.")
    w("deep_marks.pkl", b"\x80\x02" + b"(" * 5000 + b"N" + b"t" * 5000 + b".")
    w("binbytes_past_end.pkl", b"\x80\x03B\xff\xff\xff\x7fabc.")
    w("binbytes8_huge.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 2**63) + b"x.")
    w("memo_put_huge.pkl", b"\x80\x02Nr\xff\xff\xff\xff.")
    w("memo_get_missing.pkl", b"\x80\x02Nq\x00j\xf0\xff\xff\xff.")
    w("long_too_big.pkl", b"\x80\x02\x8a\x09" + b"\x00" * 8 + b"\x01.")
    w("unknown_opcode.pkl", b"\x80\x02N\xff.")
    w("no_stop.pkl", b"\x80\x02N")
    w("stack_left_over.pkl", b"\x80\x02NN.")
    w("ext_registry.pkl", b"\x80\x02\x82\x01.")
    w("stack_underflow.pkl", b"\x80\x02(a.")
    print("pickle: %d files" % len(os.listdir(os.path.join(FIX, "pickle"))))


def make_nn_dense():
    """nn/dense/: conv2d, batch norm 1d/2d, linear, pools and batched matmul,
    forward and every gradient, computed by torch in float64 from float32
    inputs (so the reference carries no float32 rounding of its own) and
    saved as float32 (argmax indices as int32). Per case <op>_<i>_<name>.npy;
    the shape parameters are in cases.txt (one line per case)."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(20261205)
    d = os.path.join("nn", "dense")
    lines = []

    def f32(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def save(case, name, a):
        if isinstance(a, torch.Tensor):
            a = a.detach().numpy()
        a = np.ascontiguousarray(a)
        np.save(out(d, "%s_%s.npy" % (case, name)), a.astype(np.int32) if a.dtype.kind in "iu" else a.astype(np.float32))

    def t(a, grad=True):
        return torch.tensor(a, dtype=torch.float64, requires_grad=grad)

    # conv2d: n ci h w co k stride pad groups bias
    convs = [(2, 3, 7, 9, 4, 3, 1, 1, 1, 1), (2, 4, 8, 8, 6, 3, 2, 1, 2, 0), (2, 6, 9, 7, 6, 3, 1, 1, 6, 1),
             (2, 6, 9, 9, 6, 3, 2, 0, 6, 0), (3, 8, 5, 5, 16, 1, 1, 0, 1, 1), (2, 8, 6, 6, 8, 1, 2, 0, 1, 0),
             (1, 4, 11, 11, 6, 5, 2, 2, 2, 1), (2, 5, 13, 13, 7, 3, 1, 1, 1, 0), (2, 4, 6, 6, 8, 3, 1, 1, 4, 1),
             (2, 3, 10, 10, 4, 2, 2, 0, 1, 1)]
    def conv_case(i, n, ci, h, w, co, k, s, p, g, bias):
        case = "conv_%d" % i
        x, wt = t(f32(n, ci, h, w)), t(f32(co, ci // g, k, k, scale=(ci // g * k * k) ** -0.5))
        b = t(f32(co)) if bias else None
        y = F.conv2d(x, wt, b, s, p, 1, g)
        dy = f32(*y.shape)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for name, a in (("x", x), ("w", wt), ("dy", dy), ("y", y), ("dx", x.grad), ("dw", wt.grad)):
            save(case, name, a)
        if bias:
            save(case, "b", b)
            save(case, "db", b.grad)
        lines.append("%s n=%d ci=%d h=%d w=%d co=%d k=%d stride=%d pad=%d groups=%d bias=%d" %
                     (case, n, ci, h, w, co, k, s, p, g, bias))

    for i, c in enumerate(convs):
        conv_case(i, *c)

    # batch norm: n c hw(shape) affine mode; train cases run two steps from
    # random running stats and backprop the second; eval uses given stats
    bns = [((8, 5), 1, "train"), ((4, 3, 5, 7), 1, "train"), ((3, 4, 6, 6), 0, "train"),
           ((3, 2, 4, 5), 1, "train_nostats"), ((2, 3, 4, 5), 1, "eval"), ((6, 4), 0, "eval")]
    for i, (shape, affine, mode) in enumerate(bns):
        case = "bn_%d" % i
        c = shape[1]
        hw = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        gamma, beta = t(f32(c, scale=0.5) + 1), t(f32(c))
        rm0, rv0 = f32(c), (rng.random(c) + 0.5).astype(np.float32)
        x1, x2 = f32(*shape, scale=2.0) + 0.5, f32(*shape, scale=1.5) - 0.3
        dy = f32(*shape)
        save(case, "x1", x1), save(case, "x2", x2), save(case, "dy", dy)
        save(case, "run_mean0", rm0), save(case, "run_var0", rv0)
        if affine:
            save(case, "gamma", gamma), save(case, "beta", beta)
        ga, be = (gamma, beta) if affine else (None, None)
        if mode == "eval":
            x = t(x2)
            y = F.batch_norm(x, torch.tensor(rm0, dtype=torch.float64), torch.tensor(rv0, dtype=torch.float64),
                             ga, be, False, 0.1, 1e-5)
            save(case, "y2", y)
        else:
            rm = torch.tensor(rm0, dtype=torch.float64) if mode == "train" else None
            rv = torch.tensor(rv0, dtype=torch.float64) if mode == "train" else None
            y1 = F.batch_norm(t(x1, False), rm, rv, ga, be, True, 0.1, 1e-5)
            save(case, "y1", y1)
            if rm is not None:
                save(case, "run_mean1", rm), save(case, "run_var1", rv)
            x = t(x2)
            y = F.batch_norm(x, rm, rv, ga, be, True, 0.1, 1e-5)
            save(case, "y2", y)
            if rm is not None:
                save(case, "run_mean2", rm), save(case, "run_var2", rv)
            dims = [0] + list(range(2, len(shape)))
            save(case, "save_mean2", x.detach().mean(dims))
            save(case, "save_invstd2", 1 / torch.sqrt(x.detach().var(dims, unbiased=False) + 1e-5))
            y.backward(torch.tensor(dy, dtype=torch.float64))
            save(case, "dx", x.grad)
            if affine:
                save(case, "dgamma", gamma.grad), save(case, "dbeta", beta.grad)
        lines.append("%s n=%d c=%d hw=%d affine=%d mode=%s eps=1e-5 momentum=0.1" %
                     (case, shape[0], c, hw, affine, mode))

    # linear: n in out bias
    for i, (n, fin, fout, bias) in enumerate([(5, 7, 3, 1), (4, 33, 17, 0), (1, 10, 1, 1), (16, 300, 40, 1)]):
        case = "linear_%d" % i
        x, wt = t(f32(n, fin)), t(f32(fout, fin, scale=fin ** -0.5))
        b = t(f32(fout)) if bias else None
        y = F.linear(x, wt, b)
        dy = f32(n, fout)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for name, a in (("x", x), ("w", wt), ("dy", dy), ("y", y), ("dx", x.grad), ("dw", wt.grad)):
            save(case, name, a)
        if bias:
            save(case, "b", b), save(case, "db", b.grad)
        lines.append("%s n=%d in=%d out=%d bias=%d" % (case, n, fin, fout, bias))

    # pools: kind n c h w k stride pad
    pools = [("max", 2, 3, 9, 9, 3, 2, 1), ("max", 2, 2, 8, 7, 2, 2, 0), ("max", 2, 3, 7, 7, 1, 2, 0),
             ("max", 1, 2, 6, 5, 3, 1, 1), ("avg", 2, 3, 9, 8, 3, 2, 1), ("avg", 2, 2, 5, 5, 2, 1, 1),
             ("avg", 1, 3, 7, 6, 3, 3, 0), ("gap", 2, 4, 5, 6, 0, 0, 0)]
    for i, (kind, n, c, h, w, k, s, p) in enumerate(pools):
        case = "pool_%d" % i
        x = t(f32(n, c, h, w))
        if kind == "max":
            y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
            save(case, "argmax", idx)
        elif kind == "avg":
            y = F.avg_pool2d(x, k, s, p)
        else:
            y = x.mean((2, 3))
        dy = f32(*y.shape)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for name, a in (("x", x), ("dy", dy), ("y", y), ("dx", x.grad)):
            save(case, name, a)
        lines.append("%s kind=%s n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d" % (case, kind, n, c, h, w, k, s, p))

    # matmul: batch m n k ta tb (a, b stored as the flags say)
    mms = [(3, 4, 5, 6, ta, tb) for ta in (0, 1) for tb in (0, 1)] + [(1, 20, 33, 17, 1, 0), (2, 1, 7, 3, 0, 1)]
    for i, (bt, m, n, k, ta, tb) in enumerate(mms):
        case = "matmul_%d" % i
        a = t(f32(bt, k, m) if ta else f32(bt, m, k))
        b = t(f32(bt, n, k) if tb else f32(bt, k, n))
        c = (a.transpose(1, 2) if ta else a) @ (b.transpose(1, 2) if tb else b)
        dc = f32(bt, m, n)
        c.backward(torch.tensor(dc, dtype=torch.float64))
        for name, v in (("a", a), ("b", b), ("dc", dc), ("c", c), ("da", a.grad), ("db", b.grad)):
            save(case, name, v)
        lines.append("%s batch=%d m=%d n=%d k=%d ta=%d tb=%d" % (case, bt, m, n, k, ta, tb))

    # 3x3 stride-1 convs with >= 16 channels take the Winograd path in C
    # (drawn last so that the cases above keep their inputs)
    for i, c in enumerate([(2, 16, 7, 7, 16, 3, 1, 1, 1, 1), (1, 24, 9, 6, 16, 3, 1, 0, 1, 0),
                           (2, 16, 5, 5, 20, 3, 1, 2, 1, 1)]):
        conv_case(len(convs) + i, *c)

    with open(out(d, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(FIX, d, f)) for f in os.listdir(os.path.join(FIX, d)))
    print("nn_dense: %d cases, %d bytes (torch %s)" % (len(lines), total, torch.__version__))


if __name__ == "__main__":
    want = sys.argv[1:] or ["image", "normalize", "npy", "pickle", "real", "nn_dense"]
    for w in want:
        globals()["make_" + w]()
