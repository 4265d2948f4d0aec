"""ResNet backbones shared by the architectures: 3D / (2+1)D for video, 2D for spectrograms.

Both follow He et al. 2016 (basic blocks, four stages) and, for video, Tran et al. 2018 ("A closer look
at spatiotemporal convolutions"): R3D uses full 3x3x3 convolutions, R(2+1)D factorises each into a 1x3x3
spatial and a 3x1x1 temporal convolution with the intermediate width chosen so the parameter count
matches R3D (Tran et al. 2018, section 3.5). Widths and depth are configurable so tests can build
models of a few thousand parameters.

`ResNet3dEncoder(layout="torchvision")` builds the R(2+1)D of torchvision's `r2plus1d_18` (the layout of the
R(2+1)D code Tran et al. released): a factorised stem (1x7x7 to 45 channels, then 3x1x1) and one intermediate
width per block, computed from the block's input and output widths and used by both of its convolutions. With
that layout torchvision's Kinetics-400 weights load unchanged (`av_emotion.convert`). For R3D both layouts are
the same network as torchvision's `r3d_18`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

RESNET_STAGE_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def stage_blocks_for_depth(depth: int) -> tuple[int, int, int, int]:
    """Return the basic blocks per stage for a ResNet of `depth` layers (10, 18 or 34)."""
    if depth not in RESNET_STAGE_BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_STAGE_BLOCKS)}, got {depth}")
    return RESNET_STAGE_BLOCKS[depth]


class Conv2Plus1d(nn.Sequential):
    """A 3x3x3 convolution factorised into 1x3x3 (space) then 3x1x1 (time), Tran et al. 2018 §3.5."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: tuple[int, int, int] = (1, 1, 1),
        mid_channels: int | None = None,
    ):
        # Intermediate width M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)) keeps the parameter
        # count equal to the full 3D convolution (t = d = 3); `mid_channels` overrides it (torchvision layout).
        mid = mid_channels or (3 * 3 * 3 * in_channels * out_channels) // (3 * 3 * in_channels + 3 * out_channels)
        mid = max(mid, 1)
        super().__init__(
            nn.Conv3d(in_channels, mid, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out_channels, (3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0), bias=False),
        )


def _conv3d(
    conv_type: str,
    in_channels: int,
    out_channels: int,
    stride: tuple[int, int, int],
    mid_channels: int | None = None,
) -> nn.Module:
    if conv_type == "3d":
        return nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
    if conv_type == "2plus1d":
        return Conv2Plus1d(in_channels, out_channels, stride, mid_channels)
    raise ValueError(f"conv_type must be '3d' or '2plus1d', got {conv_type!r}")


class BasicBlock3d(nn.Module):
    """Two 3D (or (2+1)D) convolutions with a residual connection."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: tuple[int, int, int],
        conv_type: str,
        block_mid_channels: int | None = None,
    ):
        super().__init__()
        # block_mid_channels: one (2+1)D intermediate width for both convolutions (torchvision layout)
        self.conv1 = _conv3d(conv_type, in_channels, out_channels, stride, block_mid_channels)
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = _conv3d(conv_type, out_channels, out_channels, (1, 1, 1), block_mid_channels)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != (1, 1, 1) or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, C_in, T, H, W) -> (B, C_out, T / s_t, H / s, W / s)."""
        residual = hidden_states if self.downsample is None else self.downsample(hidden_states)
        out = self.relu(self.bn1(self.conv1(hidden_states)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class ResNet3dEncoder(nn.Module):
    """Video ResNet (R3D or R(2+1)D) returning the last feature map.

    Input `(batch, channels, frames, height, width)`; output `(batch, widths[-1], frames', height',
    width')`. The stem is a 3x7x7 convolution with spatial stride 2 and no temporal stride, as in Tran et
    al. 2018; stages 2-4 halve space and, where `temporal_downsample` is true, time.
    """

    def __init__(
        self,
        in_channels: int = 3,
        depth: int = 18,
        widths: Sequence[int] = (64, 128, 256, 512),
        conv_type: str = "3d",
        temporal_downsample: bool = True,
        layout: str = "default",
    ):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths must give 4 stage widths, got {tuple(widths)}")
        if layout not in ("default", "torchvision"):
            raise ValueError(f"layout must be 'default' or 'torchvision', got {layout!r}")
        torchvision_2plus1d = layout == "torchvision" and conv_type == "2plus1d"
        if torchvision_2plus1d:
            # torchvision's R2Plus1dStem: 45 intermediate channels for a 64-wide stem (scaled for other widths)
            stem_mid = max(1, widths[0] * 45 // 64)
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                nn.BatchNorm3d(stem_mid),
                nn.ReLU(inplace=True),
                nn.Conv3d(stem_mid, widths[0], (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(widths[0]),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, widths[0], (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                nn.BatchNorm3d(widths[0]),
                nn.ReLU(inplace=True),
            )
        stages, in_ch = [], widths[0]
        for index, (num_blocks, width) in enumerate(zip(stage_blocks_for_depth(depth), widths)):
            t_stride = 2 if (index > 0 and temporal_downsample) else 1
            stride = (1, 1, 1) if index == 0 else (t_stride, 2, 2)
            first_mid = (27 * in_ch * width) // (9 * in_ch + 3 * width) if torchvision_2plus1d else None
            later_mid = (27 * width * width) // (9 * width + 3 * width) if torchvision_2plus1d else None
            blocks = [BasicBlock3d(in_ch, width, stride, conv_type, first_mid)]
            blocks += [BasicBlock3d(width, width, (1, 1, 1), conv_type, later_mid) for _ in range(num_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = widths[-1]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, widths[-1], T', H', W')."""
        if pixel_values.ndim != 5:
            raise ValueError(
                f"expected (batch, channels, frames, height, width), got shape {tuple(pixel_values.shape)}"
            )
        return self.stages(self.stem(pixel_values))


class BasicBlock2d(nn.Module):
    """Two 3x3 convolutions with a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, hidden_states: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C_in, F, T) -> (B, C_out, F / s, T / s).

        `lengths` (B,): valid steps along T of each input (the rest is zero); the output is zero past
        `ceil(lengths / s)`, so every convolution sees zeros past the end, as a clip of that length alone
        would see its zero padding. None: every step is valid.
        """
        residual = hidden_states if self.downsample is None else self.downsample(hidden_states)
        out_lengths = None if lengths is None else strided_lengths(lengths, self.conv1.stride[-1])
        out = _zero_past(self.relu(self.bn1(self.conv1(hidden_states))), out_lengths)
        out = self.bn2(self.conv2(out))
        return _zero_past(self.relu(out + residual), out_lengths)


class ResNet2dEncoder(nn.Module):
    """2D ResNet over a spectrogram treated as a one-channel image.

    Input `(batch, in_channels, n_mels, frames)`; output `(batch, widths[-1], n_mels', frames')`. The
    standard ImageNet stem (7x7 stride 2, then 3x3 max-pool stride 2) is kept when `stem_pool` is true,
    as in the 1-channel ResNet-18 audio branch of Praveen et al. 2022.
    """

    def __init__(
        self,
        in_channels: int = 1,
        depth: int = 18,
        widths: Sequence[int] = (64, 128, 256, 512),
        stem_pool: bool = True,
    ):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths must give 4 stage widths, got {tuple(widths)}")
        stem = [
            nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages, in_ch = [], widths[0]
        for index, (num_blocks, width) in enumerate(zip(stage_blocks_for_depth(depth), widths)):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock2d(in_ch, width, stride)]
            blocks += [BasicBlock2d(width, width, 1) for _ in range(num_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = widths[-1]

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the valid steps along the output's last axis for `lengths` (B,) valid input frames (int tensor)."""
        for module in self.stem:
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
                lengths = strided_lengths(lengths, _last(module.stride))
        for stage in self.stages:
            for block in stage:
                lengths = strided_lengths(lengths, block.conv1.stride[-1])
        return lengths

    def forward(self, spectrogram: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, n_mels, frames) -> (B, widths[-1], n_mels', frames').

        `lengths` (B,) int: valid frames of each input, the rest being padding. Padding is zeroed on input
        and after every layer, so the valid part of the output equals that of the same input cut to its
        length and run alone (the zeros stand for the convolutions' own zero padding; after a ReLU they are
        also neutral for the max-pool). Output steps past `output_lengths(lengths)` are zero. None: all valid.
        """
        if spectrogram.ndim != 4:
            raise ValueError(f"expected (batch, channels, n_mels, frames), got shape {tuple(spectrogram.shape)}")
        hidden_states = _zero_past(spectrogram, lengths)
        for module in self.stem:
            hidden_states = module(hidden_states)
            if lengths is not None and isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
                lengths = strided_lengths(lengths, _last(module.stride))
            if isinstance(module, (nn.ReLU, nn.MaxPool2d)):
                hidden_states = _zero_past(hidden_states, lengths)
        for stage in self.stages:
            for block in stage:
                hidden_states = block(hidden_states, lengths)
                if lengths is not None:
                    lengths = strided_lengths(lengths, block.conv1.stride[-1])
        return hidden_states


def masked_feature_mean(feature_map: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean of a `(B, C, ..., T)` feature map over all axes after C, counting only the first `lengths` steps of T.

    Positions past the lengths must already be zero (as `ResNet2dEncoder` leaves them). A row with length 0
    gives zeros. `lengths` None: the plain mean.
    """
    axes = tuple(range(2, feature_map.ndim))
    if lengths is None:
        return feature_map.mean(dim=axes)
    per_step = math.prod(feature_map.shape[2:-1])
    count = (lengths.to(feature_map.dtype) * per_step).clamp_min(1.0)
    return feature_map.sum(dim=axes) / count[:, None]


def strided_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Return the valid output steps of a 'same'-padded convolution or pool with `stride`, `ceil(lengths / stride)`.

    Holds for every strided layer here: kernel 7 padding 3, kernel 3 padding 1 and kernel 1 padding 0 all give
    `floor((n - 1) / stride) + 1` outputs for `n` inputs.
    """
    return torch.div(lengths + (stride - 1), stride, rounding_mode="floor")


def _last(value) -> int:
    return value[-1] if isinstance(value, tuple) else value


def _zero_past(hidden_states: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero the steps of the last axis at or past `lengths` (B,); None leaves the tensor as it is."""
    if lengths is None:
        return hidden_states
    steps = torch.arange(hidden_states.shape[-1], device=hidden_states.device)
    keep = steps[None, :] < lengths[:, None]
    shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 2) + (hidden_states.shape[-1],)
    return hidden_states * keep.reshape(shape).to(hidden_states.dtype)
