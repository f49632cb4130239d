#!/usr/bin/python3
"""Step 2 of the model zoo parity fixtures (independent reference in PyTorch).

Defines the zoo's other architectures in plain PyTorch from their descriptions (src/models/plain-unet.ts
and basic-unet.ts headers: a plain U-Net in the style of Ronneberger et al. with BatchNorm, and a network
in the manner of MONAI's BasicUNet), an early segmentation head, and loralib-layout LoRA for Conv2d and
ConvTranspose2d; loads the weights convlora exported (test/fixtures/models/zoo-<arch>.weights.safetensors,
tools/make-zoo-fixture.mjs) with load_state_dict(strict=True), which proves our parameter names and shapes;
and writes test/fixtures/models/zoo-<arch>.reference.safetensors:
  eval.logits, eval.esh            network and ESH logits, everything in eval mode
  train.logits, train.loss         network in train mode (batch statistics), ESH in eval mode,
                                   loss = BCE(ESH logits, sigmoid(final logits)), target not detached
  grad.<path>.lora_A / .lora_B     gradients of that loss (encoder convs and decoder transposed convs)
  stats.<bn path>.running_*        running statistics after the train-mode pass (momentum 0.1)
and in its metadata `counts`: trainable parameters per placement at rank 2 (alpha 2) for 4 and 16
filters, counted on the PyTorch twins with the placement rules written out here.
Run with Debian's python3-torch (no pip): /usr/bin/python3 tools/zoo_reference.py
"""
import datetime
import json
import os
import sys

import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from st_io import read_st, write_st  # noqa: E402,F401  (the one safetensors reader/writer of the tools)
from model_reference import ESH  # noqa: E402  (the same early head as the paper U-Net's twin)
FIX = os.path.join(HERE, '..', 'test', 'fixtures', 'models')


class LoRA(nn.Module):
    """Base conv (Conv2d or ConvTranspose2d) run with W + (B @ A).view(W.shape) * alpha / r; loralib shapes
    A [r*k, in*k], B [out/groups*k, r*k]. The base weight and bias keep their names."""

    def __init__(self, conv, r, alpha):
        super().__init__()
        k = conv.kernel_size[0]
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        # Geometry only: the conv itself is not a submodule, so the state dict holds weight, bias, lora_A, lora_B.
        self.geometry = (conv.stride, conv.padding, conv.dilation, conv.groups, getattr(conv, 'output_padding', (0, 0)))
        self.weight, self.bias = conv.weight, conv.bias
        self.lora_A = nn.Parameter(torch.zeros(r * k, conv.in_channels * k))
        self.lora_B = nn.Parameter(torch.zeros(conv.out_channels // conv.groups * k, r * k))
        self.scale = alpha / r

    def forward(self, x):
        w = self.weight + (self.lora_B @ self.lora_A).view(self.weight.shape) * self.scale
        stride, padding, dilation, groups, output_padding = self.geometry
        if self.transposed:
            return F.conv_transpose2d(x, w, self.bias, stride, padding, output_padding, groups, dilation)
        return F.conv2d(x, w, self.bias, stride, padding, dilation, groups)


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class PlainDown(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = double_conv(c, 2 * c)

    def forward(self, x):
        return self.conv(self.pool(x))


class PlainUp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.conv = double_conv(2 * c, c)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], 1))


class PlainUNet(nn.Module):
    blocks = ('inc', 'down1', 'down2', 'down3')

    def __init__(self, n):
        super().__init__()
        self.inc = double_conv(1, n)
        self.down1, self.down2, self.down3 = PlainDown(n), PlainDown(2 * n), PlainDown(4 * n)
        self.up3, self.up2, self.up1 = PlainUp(4 * n), PlainUp(2 * n), PlainUp(n)
        self.outc = nn.Conv2d(n, 1, 1)

    def forward(self, x):
        x0 = self.inc(x)
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        return self.outc(self.up1(self.up2(self.up3(x3, x2), x1), x0)), x0, x3


class ConvUnit(nn.Module):
    """MONAI's Convolution: conv then adn (N: norm, A: act)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.adn = nn.Sequential()
        self.adn.add_module('N', nn.BatchNorm2d(cout))
        self.adn.add_module('A', nn.LeakyReLU(0.1))

    def forward(self, x):
        return self.adn(self.conv(x))


class TwoConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.add_module('conv_0', ConvUnit(cin, cout))
        self.add_module('conv_1', ConvUnit(cout, cout))


class BasicDown(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.add_module('max_pooling', nn.MaxPool2d(2))
        self.add_module('convs', TwoConv(cin, cout))


class UpCat(nn.Module):
    def __init__(self, cin, ccat, cout, halves):
        super().__init__()
        cup = cin // 2 if halves else cin
        self.upsample = nn.Sequential()
        self.upsample.add_module('deconv', nn.ConvTranspose2d(cin, cup, 2, stride=2))
        self.convs = TwoConv(ccat + cup, cout)

    def forward(self, x, skip):
        return self.convs(torch.cat([skip, self.upsample(x)], 1))


class BasicUNet(nn.Module):
    blocks = ('conv_0', 'down_1', 'down_2', 'down_3')

    def __init__(self, n):
        super().__init__()
        f0, f1, f2, f3, f4 = n, n, 2 * n, 4 * n, n
        self.conv_0 = TwoConv(1, f0)
        self.down_1, self.down_2, self.down_3 = BasicDown(f0, f1), BasicDown(f1, f2), BasicDown(f2, f3)
        self.upcat_3, self.upcat_2, self.upcat_1 = UpCat(f3, f2, f2, True), UpCat(f2, f1, f1, True), UpCat(f1, f0, f4, False)
        self.final_conv = nn.Conv2d(f4, 1, 1)

    def forward(self, x):
        x0 = self.conv_0(x)
        x1 = self.down_1(x0)
        x2 = self.down_2(x1)
        x3 = self.down_3(x2)
        return self.final_conv(self.upcat_1(self.upcat_2(self.upcat_3(x3, x2), x1), x0)), x0, x3


class UdasHead(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(cin, 12, 3, padding=1), nn.ReLU(), nn.Conv2d(12, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 1, 3, padding=1))


ARCHS = {'unet': (PlainUNet, lambda n: 8 * n), 'basic-unet': (BasicUNet, lambda n: 4 * n)}


def wrap(model, path, r, alpha):
    parent = model
    parts = path.split('.')
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], LoRA(getattr(parent, parts[-1]), r, alpha))


def placement_count(model_cls, n, method, blocks, r=2):
    """Trainable parameters of a placement, counted on a fresh twin: 'udas' trains the first encoder
    block; 'convlora' (blocks 1, 1-2, 1-3, all; 'udas-convlora' = 1) puts LoRA on every Conv2d with a
    kernel > 1 in the adapted encoder blocks and trains every BatchNorm's affine parameters there."""
    model = model_cls(n)
    for p in model.parameters():
        p.requires_grad_(False)
    if method == 'udas':
        for p in getattr(model, model_cls.blocks[0]).parameters():
            p.requires_grad_(True)
    else:
        adapted = model_cls.blocks[:{'1': 1, '1-2': 2, '1-3': 3, 'all': 4}['1' if method == 'udas-convlora' else blocks]]
        for b in adapted:
            for name, m in list(getattr(model, b).named_modules()):
                if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
                    wrap(model, '%s.%s' % (b, name), r, r)
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.requires_grad_(True)
                    m.bias.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


PLACEMENTS = [('udas', 'all'), ('udas-convlora', '1'), ('convlora', '1-2'), ('convlora', '1-3'), ('convlora', 'all')]


def reference(arch):
    model_cls, esh_in = ARCHS[arch]
    w, meta = read_st(os.path.join(FIX, 'zoo-%s.weights.safetensors' % arch), with_metadata=True)
    n = 4
    net, esh = model_cls(n), ESH(esh_in(n))
    for path in json.loads(meta['loraTargets']):
        wrap(net, path, 2, 4)
    net.load_state_dict({k[4:]: v for k, v in w.items() if k.startswith('net.')}, strict=True)
    esh.load_state_dict({k[4:]: v for k, v in w.items() if k.startswith('esh.')}, strict=True)
    x = w['input']
    out = {}
    net.eval(); esh.eval()
    with torch.no_grad():
        logits, _, x3 = net(x)
        out['eval.logits'], out['eval.esh'] = logits, esh(x3)
    net.train()
    for p in list(net.parameters()) + list(esh.parameters()):
        p.requires_grad_(False)
    loras = {name: m for name, m in net.named_modules() if isinstance(m, LoRA)}
    for m in loras.values():
        m.lora_A.requires_grad_(True)
        m.lora_B.requires_grad_(True)
    logits, _, x3 = net(x)
    loss = F.binary_cross_entropy_with_logits(esh(x3), torch.sigmoid(logits))
    loss.backward()
    out['train.logits'], out['train.loss'] = logits, loss.reshape(1)
    for name, m in loras.items():
        out['grad.%s.lora_A' % name], out['grad.%s.lora_B' % name] = m.lora_A.grad, m.lora_B.grad
    for name, m in net.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            out['stats.%s.running_mean' % name], out['stats.%s.running_var' % name] = m.running_mean, m.running_var
    counts = {str(f): {'%s %s' % pl: placement_count(model_cls, f, *pl) for pl in PLACEMENTS} for f in (4, 16)}
    heads = {str(f): {'esh': sum(p.numel() for p in ESH(esh_in(f)).parameters()), 'udas': sum(p.numel() for p in UdasHead(f).parameters())} for f in (4, 16)}
    provenance = 'tools/zoo_reference.py with torch %s on %s (python3 %s)' % (torch.__version__, datetime.date.today().isoformat(), '.'.join(map(str, __import__('sys').version_info[:3])))
    write_st(os.path.join(FIX, 'zoo-%s.reference.safetensors' % arch), out,
             {'counts': json.dumps(counts), 'heads': json.dumps(heads), 'provenance': provenance})
    print('%s: wrote %d tensors, loss %.6f; counts %s' % (arch, len(out), loss.item(), json.dumps(counts)))


def main():
    torch.set_num_threads(1)
    for arch in ARCHS:
        reference(arch)


if __name__ == '__main__':
    main()
