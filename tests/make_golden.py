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


def make_heads():
    """heads/: CosFace, ArcFace and AdaFace (a torch transcription of the
    reference head.py semantics, REFERENCE.md section 4): logits, clamped
    cosine, gradients for a given dlogits; three AdaFace training steps
    (head -> cross-entropy -> backward -> SGD on the kernel) with its running
    statistics, and one CosFace step. optim/: SGD (two weight-decay groups)
    and Adam steps as torch.optim computes them."""
    import math
    import torch
    torch.manual_seed(5)
    N, D, C = 6, 8, 5

    def l2n(x, axis):
        return x / torch.norm(x, 2, axis, True)

    def head(kind, emb, norms, kernel, labels, m, h, s, stats, t_alpha, train=True):
        eps = 1e-3 if kind == "adaface" else 1e-4
        cos = torch.mm(emb, l2n(kernel, 0)).clamp(-1 + eps, 1 - eps)
        onehot = torch.zeros(emb.shape[0], kernel.shape[1]).scatter_(1, labels.reshape(-1, 1), 1.0)
        if kind == "cosface":
            return s * (cos - m * onehot), cos
        if kind == "arcface":
            return s * torch.clip(cos.acos() + m * onehot, eps, math.pi - eps).cos(), cos
        safe = torch.clip(norms, 0.001, 100).clone().detach()
        if train:
            with torch.no_grad():
                stats[0] = safe.mean() * t_alpha + (1 - t_alpha) * stats[0]
                stats[1] = safe.std() * t_alpha + (1 - t_alpha) * stats[1]
        ms = torch.clip((safe - stats[0]) / (stats[1] + eps) * h, -1, 1)
        theta = torch.clip(cos.acos() + onehot * (-m * ms), eps, math.pi - eps)
        return s * (theta.cos() - onehot * (m + m * ms)), cos

    def save(d, **arrays):
        for k, v in arrays.items():
            np.save(out("heads", d, k + ".npy"), v.detach().numpy() if torch.is_tensor(v) else np.asarray(v))

    for kind, m in (("cosface", 0.4), ("arcface", 0.5), ("adaface", 0.4)):
        emb = l2n(torch.randn(N, D), 1).requires_grad_()
        norms = torch.rand(N, 1) * 30 + 2
        kernel = torch.randn(D, C).requires_grad_()
        labels = torch.randint(0, C, (N,))
        dlogits = torch.randn(N, C)
        stats = [torch.tensor(20.0), torch.tensor(100.0)]
        logits, cos = head(kind, emb, norms, kernel, labels, m, 0.333, 64.0, stats, 0.01)
        logits.backward(dlogits)
        save(kind, emb=emb, norms=norms.reshape(-1), kernel=kernel, labels=labels.long(), dlogits=dlogits,
             logits=logits, cos=cos, demb=emb.grad, dkernel=kernel.grad,
             stats=np.array([float(stats[0]), float(stats[1])], np.float32))
    # training steps: AdaFace x3 (t_alpha 0.01, as the reference config), CosFace x1
    for kind, steps in (("adaface", 3), ("cosface", 1)):
        kernel = torch.nn.Parameter(torch.randn(D, C))
        opt = torch.optim.SGD([kernel], lr=0.1, momentum=0.9, weight_decay=5e-4)
        stats = [torch.tensor(20.0), torch.tensor(100.0)]
        save(kind + "_steps", kernel0=kernel)
        for t in range(steps):
            emb = l2n(torch.randn(N, D), 1).requires_grad_()
            norms = torch.rand(N, 1) * 30 + 2
            labels = torch.randint(0, C, (N,))
            opt.zero_grad()
            logits, cos = head(kind, emb, norms, kernel, labels, 0.4, 0.333, 64.0, stats, 0.01)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            loss.backward()
            opt.step()
            save(kind + "_steps", **{"emb%d" % t: emb, "norms%d" % t: norms.reshape(-1), "labels%d" % t: labels.long(),
                                      "loss%d" % t: np.array([loss.item()], np.float64), "demb%d" % t: emb.grad,
                                      "kernel%d" % (t + 1): kernel,
                                      "stats%d" % (t + 1): np.array([float(stats[0]), float(stats[1])], np.float32)})
    # optimisers: two SGD groups (decay 5e-4 and 0), three steps; Adam three steps
    w = torch.nn.Parameter(torch.randn(7, 3))
    b = torch.nn.Parameter(torch.randn(5))
    np.save(out("optim", "w0.npy"), w.detach().numpy())
    np.save(out("optim", "b0.npy"), b.detach().numpy())
    grads = [(torch.randn(7, 3), torch.randn(5)) for _ in range(3)]
    for t, (gw, gb) in enumerate(grads):
        np.save(out("optim", "gw%d.npy" % t), gw.numpy())
        np.save(out("optim", "gb%d.npy" % t), gb.numpy())
    for name, make in (("sgd", lambda ps: torch.optim.SGD([{"params": [ps[0]], "weight_decay": 5e-4}, {"params": [ps[1]]}],
                                                           lr=0.1, momentum=0.9)),
                       ("adam", lambda ps: torch.optim.Adam(ps, lr=1e-2))):
        ws = torch.nn.Parameter(w.detach().clone())
        bs = torch.nn.Parameter(b.detach().clone())
        opt = make([ws, bs])
        for t, (gw, gb) in enumerate(grads):
            ws.grad, bs.grad = gw.clone(), gb.clone()
            opt.step()
            np.save(out("optim", "%s_w%d.npy" % (name, t + 1)), ws.detach().numpy())
            np.save(out("optim", "%s_b%d.npy" % (name, t + 1)), bs.detach().numpy())
    # MultiStepLR as the reference schedules it
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[12, 20, 24], gamma=0.1)
    lrs = []
    for epoch in range(26):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.save(out("optim", "multistep_lr.npy"), np.array(lrs, np.float64))
    print("heads, optim: torch", torch.__version__)


def make_augment():
    """augment/: what cv2.resize makes of a face-sized image for each of the
    five interpolations (down to several sizes, including an exact 2x, and
    back up), and what PIL's ImageEnhance makes for brightness, contrast and
    saturation when handed BGR data as the reference does."""
    import cv2
    from PIL import Image, ImageEnhance
    rng = np.random.default_rng(11)
    img = test_pattern(rng, 64, 64, 3)
    img[18:34, 22:50] = rng.integers(0, 256, (16, 28, 3))  # a sharp-edged noisy block
    np.save(out("augment", "img.npy"), img)
    interps = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA,
               "cubic": cv2.INTER_CUBIC, "lanczos4": cv2.INTER_LANCZOS4}
    for name, code in interps.items():
        for side in (13, 21, 32, 33, 57):
            small = cv2.resize(img, (side, side), interpolation=code)
            np.save(out("augment", "down_%s_%d.npy" % (name, side)), small)
            np.save(out("augment", "up_%s_%d.npy" % (name, side)), cv2.resize(small, (64, 64), interpolation=code))
        np.save(out("augment", "rect_%s.npy" % name), cv2.resize(img[:56], (23, 40), interpolation=code))
    pil = Image.fromarray(img)  # BGR data that PIL takes for RGB, as the reference does
    for f in (0.5, 0.73, 1.0, 1.27, 1.5):
        for name, enh in (("brightness", ImageEnhance.Brightness), ("contrast", ImageEnhance.Contrast),
                          ("saturation", ImageEnhance.Color)):
            np.save(out("augment", "%s_%.2f.npy" % (name, f)), np.array(enh(pil).enhance(f)))
    print("augment: OpenCV", cv2.__version__, "PIL", Image.__version__)


def det_fill(index, n, scale, offset):
    """Deterministic values for tensor `index` of a state_dict, reproduced
    bit for bit by tests/test_ir.c: a lowbias32 hash of (index, element),
    24 bits to u in [0,1), v = (2u - 1) * scale + offset in float32."""
    def h32(x):
        x = x.astype(np.uint32)
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
        return x
    i = np.arange(n, dtype=np.uint32)
    h = h32(h32(np.array([index], np.uint32)) ^ i)
    u = (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return (u * np.float32(2) - np.float32(1)) * np.float32(scale) + np.float32(offset)


def det_scale(name, shape):
    """(scale, offset) per kind of tensor: realistic magnitudes."""
    import math
    if name.endswith("running_var"):
        return 0.25, 1.0
    if name.endswith("running_mean"):
        return 0.1, 0.0
    if len(shape) == 4:
        return math.sqrt(6.0 / (shape[1] * shape[2] * shape[3])), 0.0
    if len(shape) == 2:
        return math.sqrt(6.0 / shape[1]), 0.0
    if name.endswith("bias"):
        return 0.1, 0.0
    if "input_layer.2" in name or "res_layer.3" in name:  # PReLU
        return 0.05, 0.25
    return 0.1, 1.0  # batch-norm weight


def ir_module(units, dropout=0.0):
    """The reference's IR backbone (models/ir_torch.py); units per stage,
    e.g. (2, 2, 2, 2) for IR-18."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
    from ir_torch import IR
    return IR(units, dropout)


def make_ir():
    """ir/: a full IR-18 training step in torch (REFERENCE.md section 3):
    forward in train mode (dropout 0 so both sides agree: dropout has its
    own tests), backward from a given d(embedding), one SGD step (momentum
    0.9, weight decay 5e-4 except batch norm, lr 0.1). Weights, input and
    d(embedding) come from det_fill; the full weights would be 90 MB, so the
    fixture keeps the outputs, and per tensor the sum of |grad| and 8
    sampled gradient, updated-weight and running-statistic values."""
    import torch
    import torch.nn as nn
    torch.set_num_threads(2)

    model = ir_module((2, 2, 2, 2))
    sd = model.state_dict()
    with torch.no_grad():
        for t, (name, v) in enumerate(sd.items()):
            if name.endswith("num_batches_tracked"):
                continue
            sc, off = det_scale(name, tuple(v.shape))
            v.copy_(torch.from_numpy(det_fill(t, v.numel(), sc, off).reshape(v.shape)))
    # 4 images: with 2, BatchNorm1d's output is +-1 whatever its input and
    # the linear layer's gradient would be pure rounding noise
    N = 4
    x = torch.from_numpy(det_fill(100001, N * 3 * 112 * 112, 1.0, 0.0).reshape(N, 3, 112, 112))
    demb = torch.from_numpy(det_fill(100002, N * 512, 1.0, 0.0).reshape(N, 512))
    model.eval()
    with torch.no_grad():
        emb_eval, norm_eval = model(x)
    np.save(out("ir", "emb_eval.npy"), emb_eval.numpy())
    np.save(out("ir", "norm_eval.npy"), norm_eval.numpy().reshape(-1))
    model.train()
    emb, norm = model(x)
    emb.backward(demb)
    names = list(sd.keys())
    params = dict(model.named_parameters())
    decay, no_decay = [], []
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            no_decay += list(mod.parameters())
        elif not list(mod.children()):
            decay += list(mod.parameters())
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay}], lr=0.1, momentum=0.9)
    K = 8
    idx = np.zeros((len(names), K), np.int64)
    gsamp = np.zeros((len(names), K), np.float32)
    gabs = np.zeros(len(names), np.float64)
    for t, name in enumerate(names):
        n = sd[name].numel()
        idx[t] = [(j * 2654435761 + t) % n for j in range(K)]
        if name in params:
            g = params[name].grad.reshape(-1).numpy()
            gsamp[t] = g[idx[t]]
            gabs[t] = np.abs(g.astype(np.float64)).sum()
    opt.step()
    after = np.zeros((len(names), K), np.float32)
    sd = model.state_dict()
    for t, name in enumerate(names):
        after[t] = sd[name].reshape(-1).double().numpy()[idx[t]]
    np.save(out("ir", "emb.npy"), emb.detach().numpy())
    np.save(out("ir", "norm.npy"), norm.detach().numpy().reshape(-1))
    np.save(out("ir", "idx.npy"), idx)
    np.save(out("ir", "grad_samples.npy"), gsamp)
    np.save(out("ir", "grad_abs_sum.npy"), gabs)
    np.save(out("ir", "after_samples.npy"), after)
    with open(out("ir", "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print("ir: IR-18, %d tensors, %d parameters" % (len(names), sum(p.numel() for p in model.parameters())))


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


def make_nn_elem():
    """nn/elem/: activations, tensor ops, softmax, cross-entropy and
    resizes, forward and gradients. Pointwise ops are computed by torch in
    float64 from float32 inputs; resizes in float32, because ATen picks
    source pixels with float32 index arithmetic and the C op must pick the
    same ones. Files <case>_<name>.npy; shapes in cases.txt."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(20261128)
    d = os.path.join("nn", "elem")
    lines = []

    def f32(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def save(case, name, a):
        if isinstance(a, torch.Tensor):
            a = a.detach().numpy()
        a = np.ascontiguousarray(a)
        np.save(out(d, "%s_%s.npy" % (case, name)), a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32))

    def t(a, dtype=torch.float64):
        return torch.tensor(a, dtype=dtype, requires_grad=True)

    def unary(case, fn, shape):
        x, dy = f32(*shape), f32(*shape)
        xt = t(x)
        y = fn(xt)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for k, v in (("x", x), ("dy", dy), ("y", y), ("dx", xt.grad)):
            save(case, k, v)
        lines.append("%s %s" % (case, " ".join(map(str, shape))))

    unary("relu", F.relu, (2, 3, 4, 5))
    unary("gelu", F.gelu, (2, 3, 4, 5))
    unary("sigmoid", torch.sigmoid, (2, 3, 4, 5))
    for case, c in (("prelu_ch", 3), ("prelu_one", 1)):
        x, dy = f32(2, 3, 4, 5), f32(2, 3, 4, 5)
        a = (0.25 + 0.1 * rng.standard_normal(c)).astype(np.float32)
        xt, at = t(x), t(a)
        y = F.prelu(xt, at)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for k, v in (("x", x), ("a", a), ("dy", dy), ("y", y), ("dx", xt.grad), ("da", at.grad)):
            save(case, k, v)
        lines.append("%s 2 3 4 5 %d" % (case, c))

    # mul and pixel shuffle
    a, b, dy = f32(3, 4, 5), f32(3, 4, 5), f32(3, 4, 5)
    at, bt = t(a), t(b)
    (at * bt).backward(torch.tensor(dy, dtype=torch.float64))
    for k, v in (("a", a), ("b", b), ("dy", dy), ("y", at * bt), ("da", at.grad), ("db", bt.grad)):
        save("mul", k, v)
    lines.append("mul 60")
    x, dy = f32(2, 12, 3, 4), f32(2, 3, 6, 8)
    xt = t(x)
    y = F.pixel_shuffle(xt, 2)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    for k, v in (("x", x), ("dy", dy), ("y", y), ("dx", xt.grad)):
        save("pixel_shuffle", k, v)
    lines.append("pixel_shuffle 2 3 3 4 2")

    # broadcast multiply, sum over a dim, L2 normalise, over (outer, dim, inner)
    O, D, I = 2, 5, 7
    x, dy = f32(O, D, I), f32(O, D, I)
    for case, sshape in (("mul_bcast_row", (O, D, 1)), ("mul_bcast_vec", (O, 1, I))):
        s_ = f32(*sshape)
        xt, st = t(x), t(s_)
        y = xt * st
        y.backward(torch.tensor(dy, dtype=torch.float64))
        for k, v in (("x", x), ("s", s_), ("dy", dy), ("y", y), ("dx", xt.grad), ("ds", st.grad)):
            save(case, k, v)
        lines.append("%s %d %d %d" % (case, O, D, I))
    dys = f32(O, I)
    xt = t(x)
    y = xt.sum(1)
    y.backward(torch.tensor(dys, dtype=torch.float64))
    for k, v in (("x", x), ("dy", dys), ("y", y), ("dx", xt.grad)):
        save("sum_dim", k, v)
    lines.append("sum_dim %d %d %d" % (O, D, I))
    xl = x.copy()
    xl[1, :, 3] = 0  # a zero vector: the eps clamp
    xt = t(xl)
    y = F.normalize(xt, dim=1, eps=1e-12)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    for k, v in (("x", xl), ("dy", dy), ("y", y), ("dx", xt.grad)):
        save("l2norm", k, v)
    lines.append("l2norm %d %d %d" % (O, D, I))

    # softmax and log-softmax along the middle and the last axis
    for case, shape, dim in (("softmax_mid", (2, 5, 3), 1), ("softmax_last", (4, 7), 1)):
        x, dy = f32(*shape, scale=3.0), f32(*shape)
        for fn, name in ((F.softmax, case), (F.log_softmax, "log_" + case)):
            xt = t(x)
            y = fn(xt, dim=dim)
            y.backward(torch.tensor(dy, dtype=torch.float64))
            for k, v in (("x", x), ("dy", dy), ("y", y), ("dx", xt.grad)):
                save(name, k, v)
            outer = shape[0]
            inner = shape[2] if len(shape) == 3 else 1
            lines.append("%s %d %d %d" % (name, outer, shape[dim], inner))

    # cross-entropy: mean over rows, one ignored row, label smoothing
    N, C = 6, 5
    logits = f32(N, C, scale=4.0)
    labels = np.array([0, 4, -100, 2, 2, 1], dtype=np.int64)
    for case, smooth in (("ce", 0.0), ("ce_smooth", 0.1)):
        xt = t(logits)
        loss = F.cross_entropy(xt, torch.tensor(labels), label_smoothing=smooth)
        loss.backward()
        for k, v in (("logits", logits), ("labels", labels), ("loss", loss.reshape(1)), ("dlogits", xt.grad)):
            save(case, k, v)
        lines.append("%s %d %d %g" % (case, N, C, smooth))

    # resizes in float32 (see the docstring)
    for case, mode, nc, h, w, ho, wo in (("bilinear_up", "bilinear", 3, 7, 9, 11, 13),
                                         ("bilinear_down", "bilinear", 2, 9, 8, 4, 5),
                                         ("bilinear_112_128", "bilinear", 1, 112, 112, 128, 128),
                                         ("nearest_128_112", "nearest", 1, 128, 128, 112, 112),
                                         ("nearest_up", "nearest", 3, 5, 6, 9, 13),
                                         ("nearest_2x", "nearest", 1, 4, 5, 8, 10)):
        x, dy = f32(1, nc, h, w), f32(1, nc, ho, wo)
        xt = t(x, torch.float32)
        kw = {"align_corners": False} if mode == "bilinear" else {}
        y = F.interpolate(xt, size=(ho, wo), mode=mode, **kw)
        y.backward(torch.tensor(dy))
        for k, v in (("x", x), ("dy", dy), ("y", y), ("dx", xt.grad)):
            save(case, k, v)
        lines.append("%s %d %d %d %d %d" % (case, nc, h, w, ho, wo))

    with open(out(d, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("nn/elem: torch %s, %d cases" % (torch.__version__, len(lines)))


def _kfold(n, folds):
    from sklearn.model_selection import KFold
    if folds == 1:  # insightface's LFold(1)
        return [(np.arange(n), np.arange(n))]
    return list(KFold(n_splits=folds, shuffle=False).split(np.arange(n)))


def _ref_accuracy(threshold, dist, issame):
    pred = np.less(dist, threshold)
    tp = np.sum(np.logical_and(pred, issame))
    fp = np.sum(np.logical_and(pred, np.logical_not(issame)))
    tn = np.sum(np.logical_and(np.logical_not(pred), np.logical_not(issame)))
    fn = np.sum(np.logical_and(np.logical_not(pred), issame))
    tpr = 0 if (tp + fn == 0) else float(tp) / float(tp + fn)
    fpr = 0 if (fp + tn == 0) else float(fp) / float(fp + tn)
    return tpr, fpr, float(tp + tn) / dist.size


def _ref_tenfold(dist, issame, folds=10):
    thresholds = np.arange(0, 4, 0.01)
    acc = np.zeros(folds)
    best = np.zeros(folds)
    for f, (train, test) in enumerate(_kfold(len(dist), folds)):
        acc_train = np.zeros(len(thresholds))
        for i, t in enumerate(thresholds):
            _, _, acc_train[i] = _ref_accuracy(t, dist[train], issame[train])
        b = np.argmax(acc_train)
        best[f] = thresholds[b]
        _, _, acc[f] = _ref_accuracy(thresholds[b], dist[test], issame[test])
    return acc, best


def _slinear_scipy18(x, y, xnew):
    """interp1d(x, y, kind='slinear')(xnew) as SciPy 0.19-1.8 computed it.
    Since 1.9 make_interp_spline refuses repeated x ("Expect x to not have
    duplicates"), which the reference's FAR curves always have; the old
    path built this B-spline directly, and BSpline still evaluates it."""
    from scipy.interpolate import BSpline
    ind = np.argsort(x, kind="mergesort")
    x = np.asarray(x, np.float64)[ind]
    y = np.ascontiguousarray(np.asarray(y, np.float64)[ind])
    if xnew < x[0] or xnew > x[-1]:
        raise ValueError("A value in x_new is outside the interpolation range.")
    t = np.r_[x[0], x, x[-1]]
    return BSpline.construct_fast(t, y, 1)(xnew)


def _ref_val_far(threshold, dist, issame):
    pred = np.less(dist, threshold)
    ta = np.sum(np.logical_and(pred, issame))
    fa = np.sum(np.logical_and(pred, np.logical_not(issame)))
    n_same = np.sum(issame)
    n_diff = np.sum(np.logical_not(issame))
    return float(ta) / float(n_same), float(fa) / float(n_diff)  # raises like the reference


def _ref_val(dist, issame, far_target=1e-3, folds=10):
    thresholds = np.arange(0, 4, 0.001)
    val, far, thr = np.zeros(folds), np.zeros(folds), np.zeros(folds)
    for f, (train, test) in enumerate(_kfold(len(dist), folds)):
        far_train = np.zeros(len(thresholds))
        for i, t in enumerate(thresholds):
            _, far_train[i] = _ref_val_far(t, dist[train], issame[train])
        if np.max(far_train) >= far_target:
            threshold = _slinear_scipy18(far_train, thresholds, far_target)
        else:
            threshold = 0.0
        thr[f] = threshold
        val[f], far[f] = _ref_val_far(threshold, dist[test], issame[test])
    return val, far, thr


def _protocol_case(name, dist, issame):
    dist = np.asarray(dist, np.float64)
    issame = np.asarray(issame, bool)
    acc, best = _ref_tenfold(dist, issame)
    res = [*acc, *best, np.mean(acc), np.std(acc), np.mean(best)]
    try:
        val, far, thr = _ref_val(dist, issame)
        res += [1.0, *val, *far, *thr, np.mean(val), np.std(val), np.mean(far)]
    except ZeroDivisionError:
        res += [0.0] + [0.0] * 33
    np.save(out("metrics", name + "_dist.npy"), dist)
    np.save(out("metrics", name + "_same.npy"), issame.astype(np.uint8))
    np.save(out("metrics", name + "_ref.npy"), np.array(res, np.float64))
    return res


def _roc_case(name, score, label, distance=False):
    from sklearn.metrics import roc_auc_score, roc_curve
    score = np.asarray(score, np.float64)
    label = np.asarray(label, np.uint8)
    s = -score if distance else score
    np.save(out("metrics", name + "_score.npy"), score)
    np.save(out("metrics", name + "_label.npy"), label)
    for drop in (True, False):
        fpr, tpr, thr = roc_curve(label, s, drop_intermediate=drop)
        thr = thr[1:]  # sklearn 1.2 puts max+1 first, >= 1.3 inf: not compared
        if distance:
            thr = -thr
        np.save(out("metrics", "%s_roc%s.npy" % (name, "_drop" if drop else "")),
                np.stack([fpr, tpr, np.r_[np.inf, thr]]))
    auc = roc_auc_score(label, s)
    fpr, tpr, thr = roc_curve(label, s, drop_intermediate=False)
    thr = np.r_[np.inf, (-thr[1:] if distance else thr[1:])]
    # EER: first ROC point where FNR - FPR <= 0, linear between it and the one before
    g = (1.0 - tpr) - fpr
    i = int(np.argmax(g <= 0))
    t = g[i - 1] / (g[i - 1] - g[i])
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    eer_thr = thr[i] if np.isinf(thr[i - 1]) else thr[i - 1] + t * (thr[i] - thr[i - 1])
    n_pos, n_neg = int(label.sum()), int(len(label) - label.sum())
    acc = (tpr * n_pos + (1 - fpr) * n_neg) / len(label)
    tps = np.round(tpr * n_pos)
    fps = np.round(fpr * n_neg)
    acc = (tps + (n_neg - fps)) / len(label)
    b = int(np.argmax(acc))
    res = [auc, eer, eer_thr, acc[b], thr[b], len(fpr)]
    for far in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        k = int(np.searchsorted(fpr, far, side="right")) - 1
        res += [tpr[k], fpr[k], thr[k]]
    np.save(out("metrics", name + "_summary.npy"), np.array(res, np.float64))
    return res


def _scores_csv(name, score, label, kind, expected):
    """A score file as verify-pairs writes it, and the values roc-report
    must print for it (17 significant digits, as its CSV tables)."""
    with open(out("metrics", name + ".csv"), "w") as f:
        f.write("dataset,pair,key_a,key_b,label,%s\n" % kind)
        for i, (s, l) in enumerate(zip(score, label)):
            f.write("%s,%d,a%d,b%d,%d,%.17g\n" % (name, i, i, i, l, s))
    with open(out("metrics", name + "_expected.txt"), "w") as f:
        for k, v in expected:
            f.write("%s %.17g\n" % (k, v))


def make_metrics():
    import scipy
    import sklearn
    from scipy import interpolate
    rng = np.random.default_rng(20261201)

    # numpy's summation, for lc_np_sum: sizes around the pairwise and block
    # edges, on values the C test makes too (integer hashes times powers of 2)
    def sum_input(n):
        i = np.arange(n, dtype=np.uint64)
        h = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64) - 2.0**31
        return h * np.exp2(-(np.arange(n) % 40).astype(np.float64))
    sizes = (0, 1, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 20000, 100003)
    np.save(out("metrics", "sum_n.npy"), np.array(sizes, np.int64))
    np.save(out("metrics", "sum_ref.npy"),
            np.array([[np.sum(sum_input(n)), np.mean(sum_input(n)) if n else 0.0,
                       np.std(sum_input(n)) if n else 0.0] for n in sizes], np.float64))

    # interp1d(kind='slinear') with repeated x, as the FAR curves have
    cases = []
    for k in range(40):
        n = int(rng.integers(2, 30))
        x = np.sort(rng.integers(0, 6, n).astype(np.float64) / rng.integers(1, 7))
        y = np.arange(n) * 0.001
        if k % 4 == 0:
            xnew = x[int(rng.integers(0, n))]        # exactly on a (repeated) knot
        elif k % 4 == 1:
            xnew = x[-1]                             # the top end
        else:
            xnew = rng.uniform(x[0], x[-1])
        cases.append(np.r_[n, xnew, _slinear_scipy18(x, y, xnew), x, np.zeros(30 - n), y, np.zeros(30 - n)])
        if len(np.unique(x)) == n:  # without repeats the old path equals today's interp1d
            assert interpolate.interp1d(x, y, kind="slinear")(xnew) == cases[-1][2]
    np.save(out("metrics", "interp.npy"), np.array(cases, np.float64))

    # the 10-fold protocol: realistic, ties on the grid, all equal, tiny, unbalanced
    n = 3000
    same = np.arange(n) % 2 == 0
    rng.shuffle(same)
    d = np.where(same, rng.normal(0.9, 0.3, n), rng.normal(1.7, 0.25, n)).clip(0, 4)
    _protocol_case("proto_random", d, same)
    n = 1003
    same = rng.random(n) < 0.5
    grid = np.arange(0, 4, 0.001)  # distances exactly on the thresholds, and ties
    d = np.where(same, grid[rng.integers(500, 1500, n)], grid[rng.integers(1000, 2200, n)])
    d[::7] = np.arange(0, 4, 0.01)[rng.integers(50, 200, len(d[::7]))]
    _protocol_case("proto_ties", d, same)
    _protocol_case("proto_equal", np.full(50, 1.25), np.arange(50) % 3 == 0)
    _protocol_case("proto_tiny", rng.uniform(0, 2, 10), np.array([1, 0] * 5, bool))
    n = 997
    same = rng.random(n) < 0.05
    d = np.where(same, rng.normal(1.0, 0.3, n), rng.normal(1.5, 0.3, n)).clip(0, 4)
    r = _protocol_case("proto_unbalanced", np.round(d, 3), same)
    _scores_csv("proto_unbalanced", np.round(d, 3), same.astype(int), "sqeuclidean",
                [("acc10_mean", r[20]), ("acc10_std", r[21]), ("acc10_threshold", r[22]),
                 ("tar_ref", r[54]), ("tar_ref_std", r[55]), ("far_ref", r[56])])

    # embeddings -> distances exactly as numpy computes them in float64
    n, D = 200, 32
    ids = rng.standard_normal((40, D))
    who = rng.integers(0, 40, 2 * n)
    issame = rng.random(n) < 0.5
    who[1::2] = np.where(issame, who[0::2], (who[0::2] + 1 + rng.integers(0, 39, n)) % 40)
    E = (ids[who] + 1.1 * rng.standard_normal((2 * n, D))).astype(np.float32)
    E64 = E.astype(np.float64)
    En = E64 / np.sqrt(np.sum(E64 * E64, axis=1, keepdims=True))
    dist = np.sum(np.square(En[0::2] - En[1::2]), 1)
    cos = np.sum(En[0::2] * En[1::2], 1)
    raw = np.sum(np.square(E64[0::2] - E64[1::2]), 1)
    np.save(out("metrics", "emb_x.npy"), E)
    np.save(out("metrics", "emb_issame.npy"), np.repeat(issame.astype(np.int64), 2))
    np.save(out("metrics", "emb_dist.npy"), dist)
    np.save(out("metrics", "emb_cos.npy"), cos)
    np.save(out("metrics", "emb_rawdist.npy"), raw)
    res = _protocol_case("emb", dist, issame)
    with open(out("metrics", "emb_expected.txt"), "w") as f:
        f.write("acc_mean %.17g\nacc_std %.17g\nthreshold_mean %.17g\n" % tuple(res[20:23]))
        if res[23]:
            f.write("tar_mean %.17g\ntar_std %.17g\nfar_mean %.17g\n" % tuple(res[54:57]))

    # the exact ROC against scikit-learn
    n = 2000
    lab = (rng.random(n) < 0.4).astype(np.uint8)
    s = np.round(np.where(lab == 1, rng.normal(0.6, 0.2, n), rng.normal(0.2, 0.2, n)), 3)
    r = _roc_case("roc_ties", s, lab)
    _scores_csv("roc_ties", s, lab, "cosine",
                [("auc", r[0]), ("eer", r[1]), ("eer_threshold", r[2]), ("best_acc", r[3]),
                 ("best_acc_threshold", r[4]), ("roc_points", r[5]), ("tar_1e-2", r[9]), ("tar_1e-3", r[12])])
    _roc_case("roc_equal", np.full(20, 0.5), (np.arange(20) % 4 == 0).astype(np.uint8))
    _roc_case("roc_tiny", np.array([0.3, 0.7]), np.array([0, 1], np.uint8))
    n = 1500
    lab = (rng.random(n) < 0.02).astype(np.uint8)
    lab[0] = 1
    s = np.where(lab == 1, rng.normal(0.5, 0.2, n), rng.normal(0.1, 0.2, n))
    s[::3] = np.round(s[::3], 1)
    s[5] = -0.0
    s[6] = 0.0
    _roc_case("roc_unbalanced", s, lab)
    _roc_case("roc_dist", d[:997], same[:997].astype(np.uint8), distance=True)
    print("metrics: numpy %s, scikit-learn %s, scipy %s" % (np.__version__, sklearn.__version__, scipy.__version__))


if __name__ == "__main__":
    want = sys.argv[1:] or ["image", "normalize", "npy", "pickle", "real", "heads", "ir", "augment", "metrics", "nn_elem", "nn_dense"]
    for w in want:
        globals()["make_" + w]()
