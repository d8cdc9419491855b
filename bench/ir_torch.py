#!/usr/bin/env python3
"""The PyTorch peer of bench/ir_bench.c and bench/pipeline_bench.sh: the
reference's IR backbone (REFERENCE.md section 3) in eager PyTorch, timed
the way the C side is timed (best of `reps` after one warm-up run).

    ir_torch.py MODE THREADS REPS [BATCH] [LAYERS]
      train   forward + backward + SGD step (momentum, weight decay), batch 32
      infer   eval forward under no_grad, batch 16
      embed   eval forward of the images and their mirror, fused as the
              reference's fuse_features_with_norm, batch 32
Prints images/s."""
import sys
import time

import torch
import torch.nn as nn


class Unit(nn.Module):
    def __init__(self, cin, d, st):
        super().__init__()
        self.shortcut_layer = nn.MaxPool2d(1, st) if cin == d else nn.Sequential(
            nn.Conv2d(cin, d, 1, st, bias=False), nn.BatchNorm2d(d))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, d, 3, 1, 1, bias=False), nn.BatchNorm2d(d),
                                       nn.PReLU(d), nn.Conv2d(d, d, 3, st, 1, bias=False), nn.BatchNorm2d(d))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class IR(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        body, cin = [], 64
        for d, n in zip((64, 128, 256, 512), units):
            for k in range(n):
                body.append(Unit(cin, d, 2 if k == 0 else 1))
                cin = d
        self.body = nn.Sequential(*body)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(0.4), nn.Flatten(),
                                          nn.Linear(512 * 49, 512), nn.BatchNorm1d(512, affine=False))

    def forward(self, x):
        x = self.output_layer(self.body(self.input_layer(x)))
        n = torch.norm(x, 2, 1, True)
        return x / n, n


UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}


def main():
    mode, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else (16 if mode == "infer" else 32)
    layers = int(sys.argv[5]) if len(sys.argv) > 5 else (18 if mode == "train" else 50)
    torch.set_num_threads(threads)
    m = IR(UNITS[layers])
    x = torch.rand(batch, 3, 112, 112) * 2 - 1
    demb = torch.rand(batch, 512) - 0.5
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    m.train(mode == "train")
    best = 1e9
    for r in range(reps + 1):
        t0 = time.perf_counter()
        if mode == "train":
            opt.zero_grad()
            e, n = m(x)
            e.backward(demb)
            opt.step()
        else:
            with torch.no_grad():
                e, n = m(x)
                if mode == "embed":
                    e2, n2 = m(torch.flip(x, dims=[3]))
                    s = e * n + e2 * n2
                    e = s / torch.norm(s, 2, 1, True)
        t = time.perf_counter() - t0
        if r:
            best = min(best, t)
    print(batch / best)


if __name__ == "__main__":
    main()
