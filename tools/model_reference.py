#!/usr/bin/python3
"""Step 2 of the network parity fixture (independent reference in PyTorch).

Builds the DART20 residual U-Net (docs/method.md §1), the ConvLoRA ESH (section 2) and
loralib-layout ConvLoRA layers (section 3) in plain PyTorch, loads the weights exported by convlora
(test/fixtures/models/weights.safetensors) with load_state_dict(strict=True) -- which proves our
checkpoint keys and shapes load into the PyTorch model by name -- and writes reference outputs to
test/fixtures/models/reference.safetensors:
  eval.logits, eval.esh           U-Net and ESH logits, everything in eval mode
  train.logits, train.esh         U-Net in train mode (batch statistics), ESH in eval mode
  train.loss                      BCE(ESH logits, sigmoid(final logits)), target not detached
  grad.<path>.lora_A / .lora_B    gradients of that loss
  stats.<bn path>.running_mean/var  running statistics after the train-mode pass (momentum 0.1)
Run with Debian's python3-torch: /usr/bin/python3 tools/model_reference.py
"""
import os
import sys

import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from st_io import read_st, write_st  # noqa: E402,F401  (the one safetensors reader/writer of the tools)
FIX = os.path.join(HERE, '..', 'test', 'fixtures', 'models')


class LoRAConv(nn.Module):
    """conv(x, W + (B @ A).view(W.shape) * alpha / r); base params keep the names weight/bias."""

    def __init__(self, conv, r, alpha):
        super().__init__()
        k = conv.kernel_size[0]
        self.geometry = (conv.stride, conv.padding, conv.dilation, conv.groups)
        self.weight = conv.weight
        self.bias = conv.bias
        self.lora_A = nn.Parameter(torch.zeros(r * k, conv.in_channels * k))
        self.lora_B = nn.Parameter(torch.zeros(conv.out_channels // conv.groups * k, r * k))
        self.scale = alpha / r

    def forward(self, x):
        w = self.weight + (self.lora_B @ self.lora_A).view(self.weight.shape) * self.scale
        stride, padding, dilation, groups = self.geometry
        return F.conv2d(x, w, self.bias, stride, padding, dilation, groups)


class PreAct(nn.Module):
    def __init__(self, cin, cout, k, bias):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.activation = nn.ReLU()
        self.layer = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

    def forward(self, x):
        return self.layer(self.activation(self.bn(x)))


class Res(nn.Module):
    def __init__(self, c, k=3):
        super().__init__()
        self.conv_path = nn.Sequential(PreAct(c, c, k, False), PreAct(c, c, k, False))

    def forward(self, x):
        return self.conv_path(x) + x


class UNet(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.init_path = nn.Sequential(nn.Conv2d(1, n, 3, padding=1, bias=False), nn.ReLU(), Res(n), Res(n), Res(n))
        self.shortcut0 = nn.Conv2d(n, n, 1)
        def down(c, last):
            mods = [nn.BatchNorm2d(c), nn.Conv2d(c, 2 * c, 2, stride=2, bias=False), nn.ReLU(), nn.Identity(),
                    Res(2 * c), Res(2 * c), Res(2 * c)]
            return nn.Sequential(*(mods + ([nn.Identity()] if last else [])))
        def up(c):
            return nn.Sequential(Res(c), Res(c), Res(c), nn.BatchNorm2d(c),
                                 nn.ConvTranspose2d(c, c // 2, 2, stride=2, bias=False), nn.ReLU(), nn.Identity())
        self.down1, self.shortcut1 = down(n, False), nn.Conv2d(2 * n, 2 * n, 1)
        self.down2, self.shortcut2 = down(2 * n, False), nn.Conv2d(4 * n, 4 * n, 1)
        self.down3 = down(4 * n, True)
        self.up3, self.up2, self.up1 = up(8 * n), up(4 * n), up(2 * n)
        self.out_path = nn.Sequential(Res(n, 1), PreAct(n, 1, 1, True), nn.BatchNorm2d(1))

    def forward(self, x):
        x0 = self.init_path(x)
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        y = self.up3(x3)
        y = self.up2(y + self.shortcut2(x2))
        y = self.up1(y + self.shortcut1(x1))
        return self.out_path(y + self.shortcut0(x0)), x3


class ESH(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(cin, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
                                  nn.Conv2d(12, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x3):
        return F.interpolate(self.head(x3), scale_factor=8, mode='bilinear', align_corners=False)


def inject(model, r, alpha):
    for block in ('init_path', 'down1', 'down2', 'down3'):
        for name, m in list(getattr(model, block).named_modules()):
            if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
                parent = getattr(model, block)
                parts = name.split('.')
                for p in parts[:-1]:
                    parent = getattr(parent, p)
                setattr(parent, parts[-1], LoRAConv(m, r, alpha))


def convlora_setup(unet, esh):
    """The benchmarks' ConvLoRA + AdaBN trainables: LoRA (loralib, r=2, alpha=2, A Kaiming-uniform) on every
    conv with k > 1 of init_path and down1-3, plus the BN affine inside their ResBlocks; all else frozen.
    Returns the trainable tensors (57,714 at 16 filters)."""
    inject(unet, 2, 2)
    for m in unet.modules():
        if isinstance(m, LoRAConv):
            torch.nn.init.kaiming_uniform_(m.lora_A, a=5 ** 0.5)
    for p in list(unet.parameters()) + list(esh.parameters()):
        p.requires_grad_(False)
    trainable = []
    for block in (unet.init_path, unet.down1, unet.down2, unet.down3):
        for name, m in block.named_modules():
            if isinstance(m, LoRAConv):
                trainable += [m.lora_A, m.lora_B]
            elif isinstance(m, nn.BatchNorm2d) and 'conv_path' in name:
                trainable += [m.weight, m.bias]
    for p in trainable:
        p.requires_grad_(True)
    return trainable


def main():
    torch.set_num_threads(2)
    w = read_st(os.path.join(FIX, 'weights.safetensors'))
    unet, esh = UNet(4), ESH(32)
    inject(unet, 2, 4)
    unet.load_state_dict({k[5:]: v for k, v in w.items() if k.startswith('unet.')}, strict=True)
    esh.load_state_dict({k[4:]: v for k, v in w.items() if k.startswith('esh.')}, strict=True)
    x = w['input']
    out = {}
    unet.eval(); esh.eval()
    with torch.no_grad():
        logits, x3 = unet(x)
        out['eval.logits'], out['eval.esh'] = logits, esh(x3)
    unet.train()
    for p in unet.parameters():
        p.requires_grad_(False)
    loras = {n: m for n, m in unet.named_modules() if isinstance(m, LoRAConv)}
    for m in loras.values():
        m.lora_A.requires_grad_(True); m.lora_B.requires_grad_(True)
    logits, x3 = unet(x)
    e = esh(x3)
    loss = F.binary_cross_entropy_with_logits(e, torch.sigmoid(logits))
    loss.backward()
    out['train.logits'], out['train.esh'], out['train.loss'] = logits, e, loss.reshape(1)
    for n, m in loras.items():
        out['grad.%s.lora_A' % n], out['grad.%s.lora_B' % n] = m.lora_A.grad, m.lora_B.grad
    for n, m in unet.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            out['stats.%s.running_mean' % n], out['stats.%s.running_var' % n] = m.running_mean, m.running_var
    write_st(os.path.join(FIX, 'reference.safetensors'), out)
    print('wrote %d tensors, loss %.6f' % (len(out), loss.item()))


if __name__ == '__main__':
    main()
