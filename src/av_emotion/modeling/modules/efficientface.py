"""EfficientFace frame encoder (Zhao, Liu & Wang 2021), the visual stem of Chumachenko et al. 2022 and AVT-CA.

EfficientFace ("Robust lightweight facial expression recognition network with label distribution training",
AAAI 2021) is a ShuffleNet-V2 backbone (Ma et al. 2018) with two additions after the first down-sampling:

* a *local feature extractor* that splits the feature map into a grid of patches (2x2 in the paper) and runs
  separate depthwise convolutions on each, so each face region (eyes, mouth, ...) gets its own filters;
* a *channel-spatial modulator* on the output of the first ShuffleNet stage: channel attention (global
  average pool and a bottleneck MLP) times spatial attention (a bottleneck of dilated 3x3 convolutions giving
  one map), squashed by a sigmoid, re-weights every channel at every position.

The two are summed: `modulator(stage2(x)) + local(x)`, then stages 3 and 4, a 1x1 convolution and global
average pooling give one vector per frame. This is the order of the EfficientFace code and of the code
released by Chumachenko et al. 2022 (so EfficientFace checkpoints map onto it); AVT-CA's figure draws the
attention blocks before the inverted residuals, a drawing we read as the same block.

Every width and count is an argument, so tests can build encoders of a few hundred parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def channel_shuffle(hidden_states: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: (N, g*k, H, W) -> channels reordered as k groups of g (Zhang et al. 2018)."""
    batch, channels, height, width = hidden_states.shape
    hidden_states = hidden_states.view(batch, groups, channels // groups, height, width)
    return hidden_states.transpose(1, 2).reshape(batch, channels, height, width)


def _depthwise_conv(in_channels: int, out_channels: int, stride: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        3,
        stride=stride,
        padding=dilation,
        dilation=dilation,
        groups=in_channels,
        bias=False,
    )


class EfficientFaceInvertedResidual(nn.Module):
    """ShuffleNet-V2 unit (Ma et al. 2018, fig. 3c/d) as used by EfficientFace.

    Stride 1: split the channels in two, transform one half (1x1, depthwise 3x3, 1x1), concatenate, shuffle;
    needs `in_channels == out_channels`. Stride 2: both branches see all channels and the output doubles
    the width to `out_channels` while halving height and width.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if out_channels % 2:
            raise ValueError(f"out_channels must be even (two branches of out_channels / 2), got {out_channels}")
        branch_channels = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 unit keeps the width: in_channels {in_channels} != {out_channels}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise_conv(in_channels, in_channels, stride),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, branch_channels, 1, bias=False),
                nn.BatchNorm2d(branch_channels),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = None
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels if stride > 1 else branch_channels, branch_channels, 1, bias=False),
            nn.BatchNorm2d(branch_channels),
            nn.ReLU(inplace=True),
            _depthwise_conv(branch_channels, branch_channels, stride),
            nn.BatchNorm2d(branch_channels),
            nn.Conv2d(branch_channels, branch_channels, 1, bias=False),
            nn.BatchNorm2d(branch_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""
        if self.branch1 is None:
            kept, transformed = hidden_states.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(transformed)), dim=1)
        else:
            out = torch.cat((self.branch1(hidden_states), self.branch2(hidden_states)), dim=1)
        return channel_shuffle(out, 2)


class EfficientFaceLocalFeatureExtractor(nn.Module):
    """Per-region depthwise convolutions over a `grid x grid` split of the feature map (EfficientFace §3.1).

    Each patch has its own two depthwise 3x3 convolutions (the first with stride 2 and a channel multiplier
    `out_channels / in_channels`), batch norm and ReLU; the outputs are put back in place. The patches are
    processed together: stacking them along the channel axis turns the per-patch convolutions into one
    grouped convolution with identical arithmetic (zero padding at every patch border, as in the paper).

    Input `(N, in_channels, H, W)` with H and W divisible by `2 * grid`; output
    `(N, out_channels, H / 2, W / 2)`.
    """

    def __init__(self, in_channels: int, out_channels: int, grid: int = 2):
        super().__init__()
        if out_channels % in_channels:
            raise ValueError(
                f"depthwise local features need out_channels ({out_channels}) to be a multiple of in_channels "
                f"({in_channels})"
            )
        self.grid = grid
        self.out_channels = out_channels
        patches = grid * grid
        self.conv1 = _depthwise_conv(patches * in_channels, patches * out_channels, stride=2)
        self.bn1 = nn.BatchNorm2d(patches * out_channels)
        self.conv2 = _depthwise_conv(patches * out_channels, patches * out_channels, stride=1)
        self.bn2 = nn.BatchNorm2d(patches * out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H / 2, W / 2)."""
        batch, channels, height, width = hidden_states.shape
        grid = self.grid
        if height % (2 * grid) or width % (2 * grid):
            raise ValueError(
                f"the local feature extractor splits the map into {grid}x{grid} patches and halves each: height and "
                f"width must be multiples of {2 * grid}, got {height}x{width}"
            )
        # (N, C, g, h, g, w) -> (N, g_row, g_col, C, h, w) -> patches stacked along channels, row-major.
        patches = hidden_states.view(batch, channels, grid, height // grid, grid, width // grid)
        patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(
            batch, grid * grid * channels, height // grid, width // grid
        )
        out = self.relu(self.bn1(self.conv1(patches)))
        out = self.relu(self.bn2(self.conv2(out)))
        out_h, out_w = out.shape[-2:]
        out = out.view(batch, grid, grid, self.out_channels, out_h, out_w)
        return out.permute(0, 3, 1, 4, 2, 5).reshape(batch, self.out_channels, grid * out_h, grid * out_w)


class EfficientFaceChannelAttention(nn.Module):
    """Channel gate logits: global average pool, bottleneck MLP with batch norm (EfficientFace modulator)."""

    def __init__(self, channels: int, reduction_ratio: int):
        super().__init__()
        hidden = max(1, channels // reduction_ratio)
        self.fc1 = nn.Linear(channels, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, 1, 1) unnormalised channel scores."""
        pooled = hidden_states.mean(dim=(2, 3))
        return self.fc2(self.relu(self.bn(self.fc1(pooled))))[:, :, None, None]


class EfficientFaceSpatialAttention(nn.Module):
    """Spatial gate logits: 1x1 reduction, dilated 3x3 convolutions, 1x1 to one map (EfficientFace modulator)."""

    def __init__(self, channels: int, reduction_ratio: int, num_dilated_convs: int = 2, dilation: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction_ratio)
        layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)]
        for _ in range(num_dilated_convs):
            layers += [
                nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(hidden, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1, H, W) unnormalised position scores."""
        return self.layers(hidden_states)


class EfficientFaceModulator(nn.Module):
    """Channel-spatial modulator: `x * sigmoid(channel(x) * spatial(x))` (EfficientFace §3.1)."""

    def __init__(self, channels: int, reduction_ratio: int = 16, num_dilated_convs: int = 2, dilation: int = 4):
        super().__init__()
        self.channel_attention = EfficientFaceChannelAttention(channels, reduction_ratio)
        self.spatial_attention = EfficientFaceSpatialAttention(channels, reduction_ratio, num_dilated_convs, dilation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W), each value scaled by a gate in (0, 1)."""
        gate = torch.sigmoid(self.channel_attention(hidden_states) * self.spatial_attention(hidden_states))
        return hidden_states * gate


class EfficientFaceEncoder(nn.Module):
    """EfficientFace frame encoder: one feature vector per face image.

    Input `(N, in_channels, H, W)` (N frames, any mix of clips); output `(N, stage_channels[-1])`. The stem
    (3x3 stride-2 convolution, 3x3 stride-2 max-pool) divides the size by 4; the local feature extractor then
    splits that map into `local_grid x local_grid` patches and halves each, so H and W must be multiples of
    `8 * local_grid` (16 for the paper's 2x2 grid; 224 in EfficientFace and AVT-CA).

    Args:
        in_channels: image channels (3 for RGB).
        stage_repeats: ShuffleNet units in stages 2, 3, 4 ((4, 8, 4) in EfficientFace).
        stage_channels: widths of the stem, stages 2-4 and the final 1x1 convolution
            ((29, 116, 232, 464, 1024) in EfficientFace).
        local_grid: patches per side for the local feature extractor (2 in EfficientFace).
        reduction_ratio: bottleneck ratio of the channel and spatial attention (16 in EfficientFace).
        num_dilated_convs: dilated 3x3 convolutions in the spatial attention (2 in EfficientFace).
        dilation: their dilation (4 in EfficientFace).
    """

    def __init__(
        self,
        in_channels: int = 3,
        stage_repeats: Sequence[int] = (4, 8, 4),
        stage_channels: Sequence[int] = (29, 116, 232, 464, 1024),
        local_grid: int = 2,
        reduction_ratio: int = 16,
        num_dilated_convs: int = 2,
        dilation: int = 4,
    ):
        super().__init__()
        if len(stage_repeats) != 3:
            raise ValueError(f"stage_repeats must give 3 stage lengths, got {tuple(stage_repeats)}")
        if len(stage_channels) != 5:
            raise ValueError(f"stage_channels must give 5 widths (stem, 3 stages, final), got {tuple(stage_channels)}")
        stem_channels = stage_channels[0]
        self.local_grid = local_grid
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages, width = [], stem_channels
        for repeats, out_channels in zip(stage_repeats, stage_channels[1:4]):
            units = [EfficientFaceInvertedResidual(width, out_channels, 2)]
            units += [EfficientFaceInvertedResidual(out_channels, out_channels, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            width = out_channels
        self.stage2, self.stage3, self.stage4 = stages
        self.local = EfficientFaceLocalFeatureExtractor(stem_channels, stage_channels[1], local_grid)
        self.modulator = EfficientFaceModulator(stage_channels[1], reduction_ratio, num_dilated_convs, dilation)
        self.conv5 = nn.Sequential(
            nn.Conv2d(width, stage_channels[4], 1, bias=False),
            nn.BatchNorm2d(stage_channels[4]),
            nn.ReLU(inplace=True),
        )
        self.out_channels = stage_channels[4]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, stage_channels[-1]) after global average pooling."""
        if pixel_values.ndim != 4:
            raise ValueError(f"expected frames (num_frames, channels, height, width), got {tuple(pixel_values.shape)}")
        height, width = pixel_values.shape[-2:]
        multiple = 8 * self.local_grid
        if height % multiple or width % multiple:
            raise ValueError(
                f"EfficientFace frames must have height and width divisible by {multiple} (the /4 stem and the "
                f"{self.local_grid}x{self.local_grid} local patches, each halved); got {height}x{width}: resize the "
                "face crops in the processor (224 in EfficientFace and AVT-CA)"
            )
        hidden_states = self.stem(pixel_values)
        hidden_states = self.modulator(self.stage2(hidden_states)) + self.local(hidden_states)
        hidden_states = self.conv5(self.stage4(self.stage3(hidden_states)))
        return hidden_states.mean(dim=(2, 3))
