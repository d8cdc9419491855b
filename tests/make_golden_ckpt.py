#!/usr/bin/env python3
"""Golden checkpoint files for tests/test_tensorfile.c and test_checkpoint.c.

Needs torch and the `safetensors` package together: Debian's python3-torch
plus safetensors in a venv that sees the system packages:

    /usr/bin/python3 -m venv --system-site-packages /tmp/stvenv
    /tmp/stvenv/bin/pip install safetensors
    /tmp/stvenv/bin/python tests/make_golden_ckpt.py

Writes tests/fixtures/ckpt/: files made by torch.save and by the
safetensors library, and .npy files holding what each tensor must read as.
Every value is generated here from a fixed seed.
"""
import argparse
import collections
import os

import numpy as np
import torch
from safetensors.numpy import save_file as np_save_file
from safetensors.torch import save_file as torch_save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "ckpt")


def out(*parts):
    p = os.path.join(FIX, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def expect(case, name, t):
    """What tensor `name` of `case` must read as: bf16 as float32, bool as
    uint8 (0/1), the rest as they are."""
    a = t.detach().contiguous()
    if a.dtype == torch.bfloat16:
        a = a.float()
    if a.dtype == torch.bool:
        a = a.to(torch.uint8)
    a = a.numpy()
    np.save(out(case, name.replace(".", "_") + ".npy"), a)


def main():
    torch.manual_seed(11)
    g = torch.Generator().manual_seed(12)

    # safetensors written by the reference library, several dtypes
    st = collections.OrderedDict()
    st["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    st["bn.num_batches_tracked"] = torch.tensor(17, dtype=torch.int64)
    st["half"] = torch.randn(5, 2, generator=g).half()
    st["bf16"] = torch.randn(3, 3, generator=g).bfloat16()
    st["mask"] = torch.rand(7, generator=g) > 0.5
    st["bytes"] = torch.arange(9, dtype=torch.uint8).reshape(3, 3)
    st["double"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    st["empty"] = torch.zeros(0, 4)
    st["i32"] = torch.arange(-3, 3, dtype=torch.int32)
    torch_save_file(st, out("st_torch.safetensors"), metadata={"format": "pt", "arch": "ir_18"})
    for k, v in st.items():
        expect("st_torch", k, v)

    # the writer comparison: the C writer, given these tensors in any order
    # and the same single metadata entry (the library orders several by
    # hash), must write these exact bytes
    w = collections.OrderedDict()
    w["a.weight"] = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    w["b.bias"] = np.array([1.5, -2.25, 3.0], dtype=np.float32)
    w["c.count"] = np.array(5, dtype=np.int64)
    w["d.odd"] = np.arange(5, dtype=np.float32)
    np_save_file(w, out("st_writer.safetensors"), metadata={"arch": "test"})

    # torch.save of a state dict: parameters, buffers, a transposed view, a
    # slice sharing its storage, half and bool tensors
    base = torch.randn(6, 5, generator=g)
    sd = collections.OrderedDict()
    sd["linear.weight"] = torch.nn.Parameter(torch.randn(3, 4, generator=g))
    sd["linear.bias"] = torch.nn.Parameter(torch.randn(3, generator=g))
    sd["bn.running_mean"] = torch.randn(4, generator=g)
    sd["bn.num_batches_tracked"] = torch.tensor(42)
    sd["view.transposed"] = base.t()
    sd["view.slice"] = base[2:4, 1:4]
    sd["view.row"] = base[5]
    sd["half"] = torch.randn(2, 3, generator=g).half()
    sd["mask"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(2.5)
    torch.save(sd, out("state_dict.pth"))
    for k, v in sd.items():
        expect("state_dict", k, v)

    # a Lightning-style checkpoint: state_dict under "state_dict" with model.
    # and head. prefixes, scalars beside it, hyper-parameters holding a class
    # instance, optimiser state with tensors of its own
    lsd = collections.OrderedDict()
    lsd["model.layer.weight"] = torch.randn(2, 2, generator=g)
    lsd["head.kernel"] = torch.randn(2, 3, generator=g)
    ckpt = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "1.8.6",
        "state_dict": lsd,
        "hyper_parameters": {"args": argparse.Namespace(lr=0.1, arch="ir_50")},
        "optimizer_states": [{"state": {0: {"momentum_buffer": torch.ones(2, 2)}}, "param_groups": [{"lr": 0.1}]}],
        "lr_schedulers": [{"milestones": collections.Counter([12, 20, 24])}],
    }
    torch.save(ckpt, out("lightning.ckpt"))
    for k, v in lsd.items():
        expect("lightning", k, v)

    # refused: the pre-1.6 format, and a whole pickled module
    torch.save(collections.OrderedDict(w=torch.ones(2)), out("legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(torch.nn.Linear(2, 2), out("module.pth"))
    print("ckpt: torch %s" % torch.__version__)


if __name__ == "__main__":
    main()
