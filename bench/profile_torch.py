#!/usr/bin/python3
"""PyTorch side of bench/profile: per-operator self time of one U-Net training step and one ConvLoRA +
AdaBN adaptation step (the shapes and loops of bench/engine_torch.py and bench/adapt_torch.py).
Usage: python3 bench/profile_torch.py STEPS THREADS. Prints one JSON line."""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from model_reference import UNet, ESH, convlora_setup  # noqa: E402


def measure(step, steps):
    for _ in range(2):
        step()
    with torch.autograd.profiler.profile() as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        ms = (time.perf_counter() - t0) * 1000 / steps
    rows = [{'name': e.key, 'calls': e.count / steps, 'totalMs': e.cpu_time_total / 1000 / steps,
             'selfMs': e.self_cpu_time_total / 1000 / steps} for e in prof.key_averages()]
    rows.sort(key=lambda r: -r['selfMs'])
    return {'stepMs': ms, 'ops': rows}


def training(steps):
    torch.manual_seed(0)
    model = UNet(16)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(8, 1, 128, 128)
    y = (torch.rand(8, 1, 128, 128) > 0.5).float()

    def step():
        opt.zero_grad()
        logits, _ = model(x)
        F.binary_cross_entropy_with_logits(logits, y).backward()
        opt.step()
    return measure(step, steps)


def adaptation(steps):
    torch.manual_seed(0)
    unet, esh = UNet(16), ESH(128)
    trainable = convlora_setup(unet, esh)
    opt = torch.optim.Adam(trainable, lr=1e-4)
    unet.train()
    esh.eval()
    x = torch.rand(32, 1, 64, 64)

    def step():
        opt.zero_grad()
        logits, x3 = unet(x)
        F.binary_cross_entropy_with_logits(esh(x3), torch.sigmoid(logits)).backward()
        opt.step()
    return measure(step, steps)


def main():
    steps, threads = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    print(json.dumps({'torch': torch.__version__, 'training': training(steps), 'adaptation': adaptation(steps)}))


if __name__ == '__main__':
    main()
