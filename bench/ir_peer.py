#!/usr/bin/env python3
"""The PyTorch peer of bench/ir_bench.c and bench/pipeline_bench.sh: the
reference's IR backbone (models/ir_torch.py) in eager PyTorch, timed
the way the C side is timed (best of `reps` after one warm-up run).

    ir_peer.py MODE THREADS REPS [BATCH] [LAYERS] [DEVICE]
      train   forward + backward + SGD step (momentum, weight decay), batch 32
      infer   eval forward under no_grad, batch 16
      embed   eval forward of the images and their mirror, fused as the
              reference's fuse_features_with_norm, batch 32
DEVICE: cpu (default) or cuda (float32, TF32 off, as the C side computes;
prints -1 when PyTorch has no CUDA), or mixed precision on CUDA in
channels-last memory, the recipe PyTorch recommends for convolutional nets:
  cuda-fp16   train: autocast fp16 + GradScaler; infer/embed: the model in .half()
  cuda-bf16   train: autocast bf16 (no scaler); infer/embed: the model in bfloat16
On CUDA each run takes its input from page-locked host memory, float32
(N, C, H, W), as bench/ir_gpu_bench.c's runs upload theirs (and casts it
to the model's type and memory format on the GPU).
Prints images/s; on CUDA also the device memory the run took (bytes: the
fall of the driver's free count from after the CUDA context was made to
after the timed runs, PyTorch's cached blocks and library workspaces
included), as bench/ir_gpu_bench.c measures its own."""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from ir_torch import IR, UNITS  # noqa: E402


def main():
    mode, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else (16 if mode == "infer" else 32)
    layers = int(sys.argv[5]) if len(sys.argv) > 5 else (18 if mode == "train" else 50)
    device = sys.argv[6] if len(sys.argv) > 6 else "cpu"
    half = {"cuda-fp16": torch.float16, "cuda-bf16": torch.bfloat16}.get(device)
    if half is not None:
        device = "cuda"
    if device != "cpu" and not torch.cuda.is_available():
        print(-1)
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(threads)
    if device != "cpu":
        torch.zeros(1, device=device)  # the context, before the baseline
        torch.cuda.synchronize()
        free0 = torch.cuda.mem_get_info()[0]
    m = IR(UNITS[layers]).to(device)
    x_host = torch.rand(batch, 3, 112, 112) * 2 - 1
    if device != "cpu":
        x_host = x_host.pin_memory()
    demb = (torch.rand(batch, 512) - 0.5).to(device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    if half is not None:
        m = m.to(memory_format=torch.channels_last)
        if mode != "train":
            m = m.to(half)

    def upload():  # the batch onto the device, in the model's type and memory format
        x = x_host.to(device, non_blocking=True)
        if half is not None:
            x = x.to(half if mode != "train" else x.dtype, memory_format=torch.channels_last)
        return x
    scaler = None
    if half == torch.float16 and mode == "train":
        # torch.amp.GradScaler since 2.3; torch.cuda.amp's is gone from recent releases
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    m.train(mode == "train")
    best = 1e9
    for r in range(reps + 1):
        t0 = time.perf_counter()
        x = upload()
        if mode == "train" and half is not None:
            opt.zero_grad()
            with torch.autocast("cuda", dtype=half):
                e, n = m(x)
            if scaler is not None:
                e.backward(scaler.scale(demb))
                scaler.step(opt)
                scaler.update()
            else:
                e.backward(demb)
                opt.step()
        elif mode == "train":
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
        sync()
        t = time.perf_counter() - t0
        if r:
            best = min(best, t)
    if device == "cpu":
        print(batch / best)
    else:
        print(batch / best, free0 - torch.cuda.mem_get_info()[0])


if __name__ == "__main__":
    main()
