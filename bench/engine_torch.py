#!/usr/bin/python3
"""PyTorch baseline for bench/engine: the same residual U-Net training step (Adam, BCE with logits).
Usage: /usr/bin/python3 bench/engine_torch.py FILTERS BATCH SIZE THREADS WARMUP STEPS [DEVICE=cpu]
On a CUDA device each step ends with torch.cuda.synchronize(), as ours does.
Prints one JSON line: {"stepSeconds": [...], "peakRssMB": ...}."""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from model_reference import UNet  # noqa: E402  (the DART20 U-Net written for the parity fixture)


def main():
    filters, batch, size, threads, warmup, steps = map(int, sys.argv[1:7])
    device = torch.device(sys.argv[7] if len(sys.argv) > 7 else 'cpu')
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = UNet(filters).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, size, size).to(device)
    y = (torch.rand(batch, 1, size, size) > 0.5).float().to(device)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        logits, _ = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        opt.step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({'stepSeconds': times, 'peakRssMB': peak, 'torch': torch.__version__, 'threads': torch.get_num_threads()}))


if __name__ == '__main__':
    main()
