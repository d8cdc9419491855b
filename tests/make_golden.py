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



# ---------------------------------------------------------------- metrics
# A numpy transcription of the reference evaluation (insightface/AdaFace
# verification.py: calculate_roc, calculate_accuracy, calculate_val,
# calculate_val_far), written out here so the goldens do not depend on
# those repositories, and sklearn's roc_curve/roc_auc_score.

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
    want = sys.argv[1:] or ["image", "normalize", "npy", "metrics"]
    for w in want:
        globals()["make_" + w]()
