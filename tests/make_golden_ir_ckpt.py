#!/usr/bin/env python3
"""A whole IR-18 saved by torch.save, and the embeddings PyTorch computes
with it, for tests/test_embed.c. Run with Debian's torch:

    /usr/bin/python3 tests/make_golden_ir_ckpt.py

Writes tests/fixtures/ckpt/:
  ir18_state_dict.pth  model.state_dict() (bare, as torch.save writes it)
  ir18_lightning.ckpt  {'state_dict': {'model.*', 'head.kernel'}, 'epoch',
                       'global_step', ...}: AdaFace's published layout
  ir18_images.npy      (4, 112, 112, 3) u8 BGR faces-to-be
  ir18_emb.npy, ir18_norm.npy        eval embeddings and norms, no flip
  ir18_emb_flip.npy, ir18_norm_flip.npy   with the reference's flip fusion

A real IR-18 is 96 MB. To keep the fixture small, every tensor is a view
with overlapping strides into a small storage of its own (as_strided):
torch.save writes storage, offset, sizes and strides as they are, so the
files are real torch.save output of a full-size model, and the C reader
must honour strides to load them. The values are random, scaled like a
trained model's (Kaiming-sized convs, BN weights near 1, positive running
variances), so the embeddings exercise every layer.
"""
import collections
import os

import numpy as np
import torch

from make_golden import det_scale, ir_module

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "ckpt")


def strided_like(shape, rng, scale, offset):
    """A tensor of `shape` viewing a small storage through overlapping strides."""
    strides = {1: (1,), 2: (3, 1), 4: (13, 7, 3, 1)}.get(len(shape))
    if strides is None or len(shape) == 1:
        n = int(np.prod(shape)) if shape else 1
        return torch.from_numpy((rng.uniform(-1, 1, n) * scale + offset).astype(np.float32)).reshape(shape)
    size = 1 + sum((d - 1) * s for d, s in zip(shape, strides))
    storage = torch.from_numpy((rng.uniform(-1, 1, size) * scale + offset).astype(np.float32))
    return storage.as_strided(shape, strides)


def fused(model, x):
    """AdaFace's fuse_features_with_norm over the image and its mirror."""
    e1, n1 = model(x)
    e2, n2 = model(torch.flip(x, dims=[3]))
    s = e1 * n1 + e2 * n2
    n = torch.norm(s, 2, 1, True)
    return s / n, n


def main():
    torch.set_num_threads(2)
    rng = np.random.default_rng(20261128)
    model = ir_module((2, 2, 2, 2))
    sd = collections.OrderedDict()
    for name, v in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(1000 + len(sd), dtype=torch.int64)
            continue
        sc, off = det_scale(name, tuple(v.shape))
        sd[name] = strided_like(tuple(v.shape), rng, sc, off)
    model.load_state_dict(sd)
    model.eval()
    os.makedirs(FIX, exist_ok=True)
    torch.save(sd, os.path.join(FIX, "ir18_state_dict.pth"))
    lsd = collections.OrderedDict(("model." + k, v) for k, v in sd.items())
    lsd["head.kernel"] = strided_like((512, 7), rng, 0.05, 0.0)
    torch.save({"epoch": 25, "global_step": 100000, "pytorch-lightning_version": "1.8.6", "state_dict": lsd},
               os.path.join(FIX, "ir18_lightning.ckpt"))

    # faces-to-be: smooth colour fields with a bright oval, u8 BGR, HWC
    yy, xx = np.mgrid[0:112, 0:112].astype(np.float64)
    images = np.zeros((4, 112, 112, 3), np.uint8)
    for i in range(4):
        oval = ((xx - 56 - 4 * i) / 38) ** 2 + ((yy - 60) / 48) ** 2 < 1
        for c in range(3):
            field = 90 + 60 * np.sin(xx / (9 + i + c) + c) * np.cos(yy / (13 - i))
            field += oval * (70 + 20 * c)
            field += rng.normal(0, 6, (112, 112))
            images[i, :, :, c] = np.clip(field, 0, 255).astype(np.uint8)
    np.save(os.path.join(FIX, "ir18_images.npy"), images)
    # the reference's to_input: BGR, ((x / 255) - 0.5) / 0.5, CHW
    x = torch.from_numpy(((images.astype(np.float32) / 255.0) - 0.5) / 0.5).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        e, n = model(x)
        ef, nf = fused(model, x)
    np.save(os.path.join(FIX, "ir18_emb.npy"), e.numpy())
    np.save(os.path.join(FIX, "ir18_norm.npy"), n.numpy().reshape(-1))
    np.save(os.path.join(FIX, "ir18_emb_flip.npy"), ef.numpy())
    np.save(os.path.join(FIX, "ir18_norm_flip.npy"), nf.numpy().reshape(-1))
    sizes = [os.path.getsize(os.path.join(FIX, f)) for f in ("ir18_state_dict.pth", "ir18_lightning.ckpt")]
    print("ir18 checkpoints: %d and %d bytes (torch %s)" % (sizes[0], sizes[1], torch.__version__))


if __name__ == "__main__":
    main()
