"""An EfficientFace with the parameter names of the authors' code, written for the conversion tests.

Written from the structure of zengqunzhao/EfficientFace `models/EfficientFace.py` and `models/modulator.py`
(module and parameter names, patch order, forward order), independently of av_emotion's encoder: four
separate per-patch depthwise branches sliced the way the original slices them, a `Sequential` of named
modules for the modulator gates. Its `state_dict()` has the original key layout, and its `features()` is the
reference the converted `EfficientFaceEncoder` must reproduce. Widths are arguments so the tests stay small.
"""

from __future__ import annotations

import torch
from torch import nn


def _dw(inp, out, stride):
    return nn.Conv2d(inp, out, 3, stride, 1, bias=False, groups=inp)


def _shuffle(x, groups=2):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class OriginalInvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                _dw(inp, inp, stride),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(),
            _dw(half, half, stride),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(),
        )

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            return _shuffle(torch.cat((a, self.branch2(b)), 1))
        return _shuffle(torch.cat((self.branch1(x), self.branch2(x)), 1))


class OriginalLocalFeatureExtractor(nn.Module):
    def __init__(self, inplanes, planes):
        super().__init__()
        for p in (1, 2, 3, 4):
            setattr(self, f"conv{p}_1", _dw(inplanes, planes, 2))
            setattr(self, f"bn{p}_1", nn.BatchNorm2d(planes))
            setattr(self, f"conv{p}_2", _dw(planes, planes, 1))
            setattr(self, f"bn{p}_2", nn.BatchNorm2d(planes))
        self.relu = nn.ReLU()

    def _branch(self, p, x):
        x = self.relu(getattr(self, f"bn{p}_1")(getattr(self, f"conv{p}_1")(x)))
        return self.relu(getattr(self, f"bn{p}_2")(getattr(self, f"conv{p}_2")(x)))

    def forward(self, x):
        h = x.shape[2] // 2
        # the original's slices: patch_11 top-left, patch_21 bottom-left, patch_12 top-right, patch_22 bottom-right
        out1 = self._branch(1, x[:, :, :h, :h])
        out2 = self._branch(2, x[:, :, h:, :h])
        out3 = self._branch(3, x[:, :, :h, h:])
        out4 = self._branch(4, x[:, :, h:, h:])
        return torch.cat([torch.cat([out1, out2], 2), torch.cat([out3, out4], 2)], 3)


class OriginalChannel(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(c, c // r))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(c // r))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(c // r, c))

    def forward(self, x):
        return self.gate_c(x.mean((2, 3)))[:, :, None, None].expand_as(x)


class OriginalSpatial(nn.Module):
    def __init__(self, c, r, n_dilated=2, dilation=4):
        super().__init__()
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(c, c // r, 1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(c // r))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(n_dilated):
            self.gate_s.add_module(
                f"gate_s_conv_di_{i}", nn.Conv2d(c // r, c // r, 3, padding=dilation, dilation=dilation)
            )
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(c // r))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(c // r, 1, 1))

    def forward(self, x):
        return self.gate_s(x).expand_as(x)


class OriginalModulator(nn.Module):
    def __init__(self, c, r, n_dilated):
        super().__init__()
        self.channel_att = OriginalChannel(c, r)
        self.spatial_att = OriginalSpatial(c, r, n_dilated)

    def forward(self, x):
        return torch.sigmoid(self.channel_att(x) * self.spatial_att(x)) * x


class OriginalEfficientFace(nn.Module):
    def __init__(self, repeats=(4, 8, 4), channels=(29, 116, 232, 464, 1024), reduction=16, n_dilated=2, num_classes=7):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU()
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        width = channels[0]
        for name, n, out in zip(("stage2", "stage3", "stage4"), repeats, channels[1:4]):
            units = [OriginalInvertedResidual(width, out, 2)] + [
                OriginalInvertedResidual(out, out, 1) for _ in range(n - 1)
            ]
            setattr(self, name, nn.Sequential(*units))
            width = out
        self.local = OriginalLocalFeatureExtractor(channels[0], channels[1])
        self.modulator = OriginalModulator(channels[1], reduction, n_dilated)
        self.conv5 = nn.Sequential(nn.Conv2d(width, channels[4], 1, bias=False), nn.BatchNorm2d(channels[4]), nn.ReLU())
        self.fc = nn.Linear(channels[4], num_classes)

    def features(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.modulator(self.stage2(x)) + self.local(x)
        return self.conv5(self.stage4(self.stage3(x))).mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


def randomize_norm_statistics(module: nn.Module, generator: torch.Generator) -> None:
    """Give every batch norm non-trivial running statistics and affine parameters (so a wrong map shows)."""
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            n = child.num_features
            child.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            child.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            child.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            child.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
            child.num_batches_tracked.fill_(7)
