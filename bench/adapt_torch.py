#!/usr/bin/python3
"""PyTorch baseline for bench/adapt: the same ConvLoRA + AdaBN (implicit) adaptation loop.

Usage: /usr/bin/python3 bench/adapt_torch.py WORKDIR EPOCHS BATCH THREADS SEED
WORKDIR holds (written by bench/adapt.ts): unet.safetensors and esh.safetensors (convlora checkpoints,
loaded by name), slices.safetensors ("x": [N, 1, H, W] preprocessed target training slices).
The loop: LoRA (loralib layout, r=2, alpha=2) on every conv with k > 1 of init_path and down1-3, the
BN affine inside their ResBlocks trainable, everything else frozen; U-Net in train mode (implicit
AdaBN), ESH in eval mode; per epoch a seeded shuffle, the last partial batch dropped; loss
BCE(ESH logits, sigmoid(final logits)), target not detached; Adam lr 1e-4.
Prints one JSON line: {"epochSeconds": [...], "wallSeconds": ..., "peakRssMB": ...}; wallSeconds runs from
building the networks (weights loaded) to the end of the last epoch.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from model_reference import UNet, ESH, convlora_setup, read_st  # noqa: E402


def main():
    work, epochs, batch, threads, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t_start = time.perf_counter()
    unet, esh = UNet(16), ESH(128)
    unet.load_state_dict(read_st(os.path.join(work, 'unet.safetensors')))
    esh.load_state_dict(read_st(os.path.join(work, 'esh.safetensors')))
    trainable = convlora_setup(unet, esh)
    opt = torch.optim.Adam(trainable, lr=1e-4)
    x_all = read_st(os.path.join(work, 'slices.safetensors'))['x']
    n = x_all.shape[0]
    rng = np.random.default_rng(seed)
    unet.train()
    esh.eval()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(n))
        for s in range(0, n - batch + 1, batch):
            x = x_all[order[s:s + batch]]
            opt.zero_grad()
            logits, x3 = unet(x)
            loss = F.binary_cross_entropy_with_logits(esh(x3), torch.sigmoid(logits))
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({'epochSeconds': times, 'wallSeconds': wall, 'peakRssMB': peak, 'trainable': sum(p.numel() for p in trainable)}))


if __name__ == '__main__':
    main()
