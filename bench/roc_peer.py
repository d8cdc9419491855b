#!/usr/bin/python3
"""The peer of bench/roc_bench.c: what roc-report computes, done with
scikit-learn and numpy the way a careful user would (one roc_curve call
over all points, auc() on it, numpy for EER, TAR@FAR and best accuracy).

  roc_peer.py roc DIR        scores DIR/score.npy (float64), DIR/label.npy (uint8)
  roc_peer.py protocol DIR N the reference 10-fold protocol (numpy transcription)
                             on the first N pairs, distances 2 - 2*score

Prints one line of key=value pairs: seconds, extra peak memory (MB) over the
loaded arrays, and the results to cross-check.
"""
import os
import resource
import sys
import time

import numpy as np


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def roc(d):
    from sklearn.metrics import auc, roc_curve
    s = np.load(os.path.join(d, "score.npy"))
    y = np.load(os.path.join(d, "label.npy"))
    base = peak_mb()
    t0 = time.perf_counter()
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    area = auc(fpr, tpr)
    g = (1.0 - tpr) - fpr
    i = int(np.argmax(g <= 0))
    t = g[i - 1] / (g[i - 1] - g[i])
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    tars = [tpr[np.searchsorted(fpr, f, side="right") - 1] for f in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)]
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    acc = (np.round(tpr * n_pos) + (n_neg - np.round(fpr * n_neg))) / len(y)
    best = float(acc[np.argmax(acc)])
    dropped = roc_curve(y, s)[0].size if os.environ.get("PEER_DROP") else 0
    sec = time.perf_counter() - t0
    print("seconds=%.3f extra_mb=%.0f points=%d auc=%.17g eer=%.17g tar3=%.17g best=%.17g dropped=%d"
          % (sec, peak_mb() - base, len(fpr), area, eer, tars[2], best, dropped))


def protocol(d, n):
    from sklearn.model_selection import KFold
    s = np.load(os.path.join(d, "score.npy"))[:n]
    y = np.load(os.path.join(d, "label.npy"))[:n].astype(bool)
    dist = 2.0 - 2.0 * s
    t0 = time.perf_counter()
    thresholds = np.arange(0, 4, 0.01)
    accs = []
    for train, test in KFold(n_splits=10, shuffle=False).split(np.arange(n)):
        best, bi = -1.0, 0
        for i, th in enumerate(thresholds):
            p = np.less(dist[train], th)
            a = float(np.sum(p & y[train]) + np.sum(~p & ~y[train])) / train.size
            if a > best:
                best, bi = a, i
        p = np.less(dist[test], thresholds[bi])
        accs.append(float(np.sum(p & y[test]) + np.sum(~p & ~y[test])) / test.size)
    sec = time.perf_counter() - t0
    print("seconds=%.3f acc=%.17g" % (sec, np.mean(accs)))


if __name__ == "__main__":
    if sys.argv[1] == "roc":
        roc(sys.argv[2])
    else:
        protocol(sys.argv[2], int(sys.argv[3]))
