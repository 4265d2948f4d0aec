"""mini-Xception frame encoder (Arriaga, Valdenegro-Toro & Plöger 2017), with its expression classifier kept.

"Real-time Convolutional Neural Networks for Emotion and Gender Classification" (arXiv:1710.07557), section 3:
two 3x3 convolutions (no padding), four residual modules of depthwise-separable convolutions (widths 16, 32, 64,
128 for the FER2013 model), each halving the map with a 3x3 stride-2 max-pool while a strided 1x1 convolution
carries the residual, then a 3x3 convolution to one map per class and global average pooling (no dense layer).

As a frame encoder it returns the 128 globally pooled channels of the last residual module (`forward`); the
published classifier stays attached (`classify`), so the converted FER2013 model also predicts expressions alone.
Everything is laid out so the Keras model converts exactly (`av_emotion.convert.keras_mini_xception`): batch-norm
epsilon 1e-3 (Keras' default) and TensorFlow's "same" max-pool padding, which pads the bottom/right more than the
top/left when the total is odd (PyTorch's symmetric `padding=1` would shift every pooling window).

Input: frames `(N, C, H, W)` normalised to [-1, 1] (`x / 255 * 2 - 1`, what the FER2013 model was trained on; the
processor's `image_mean = image_std = 0.5` does it). Three channels are turned into luma with ITU-R BT.601
weights (OpenCV's `COLOR_RGB2GRAY`), frames of another size are resized to `input_size` (bilinear, antialiased).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# ITU-R BT.601 luma, as OpenCV's RGB -> grey conversion (which the FER2013 face_classification code uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Keras' BatchNormalization default epsilon, with which the FER2013 model was trained.
KERAS_BATCH_NORM_EPS = 1e-3


def tf_same_max_pool(hidden_states: torch.Tensor, kernel_size: int = 3, stride: int = 2) -> torch.Tensor:
    """Max-pool with TensorFlow's "same" padding: output ceil(size / stride), extra padding at the bottom/right."""
    pads = []
    for size in reversed(hidden_states.shape[-2:]):  # F.pad takes the last dimension first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel_size - size, 0)
        pads += [total // 2, total - total // 2]
    padded = F.pad(hidden_states, pads, value=float("-inf"))
    return F.max_pool2d(padded, kernel_size, stride)


class MiniXceptionBlock(nn.Module):
    """Residual module: two separable 3x3 convolutions + BN (ReLU between), max-pool; strided 1x1 residual + BN."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
            nn.BatchNorm2d(out_channels, eps=KERAS_BATCH_NORM_EPS),
        )
        self.depthwise1 = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=KERAS_BATCH_NORM_EPS)
        self.depthwise2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False)
        self.pointwise2 = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=KERAS_BATCH_NORM_EPS)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, ceil(H / 2), ceil(W / 2))."""
        out = F.relu(self.bn1(self.pointwise1(self.depthwise1(hidden_states))))
        out = self.bn2(self.pointwise2(self.depthwise2(out)))
        return tf_same_max_pool(out) + self.residual(hidden_states)


class MiniXceptionEncoder(nn.Module):
    """mini-Xception over face frames: `forward` gives features `(N, block_channels[-1])`, `classify` logits.

    Args:
        in_channels: Channels of the input frames: 3 (RGB, turned into luma) or 1 (grey).
        stem_channels: Widths of the two unpadded 3x3 convolutions ((8, 8) in the FER2013 model).
        block_channels: Widths of the residual modules ((16, 32, 64, 128)).
        num_classes: Maps of the classifier convolution (7 FER2013 expressions).
        input_size: Side the frames are resized to when they differ (64 for FER2013).
    """

    def __init__(
        self,
        in_channels: int = 3,
        stem_channels: Sequence[int] = (8, 8),
        block_channels: Sequence[int] = (16, 32, 64, 128),
        num_classes: int = 7,
        input_size: int = 64,
    ):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"mini-Xception takes grey (1) or RGB (3) frames, got in_channels={in_channels}")
        if len(stem_channels) != 2 or not block_channels:
            raise ValueError(
                f"stem_channels needs 2 widths and block_channels at least 1, got {stem_channels}, {block_channels}"
            )
        self.in_channels = in_channels
        self.input_size = input_size
        self.register_buffer("luma", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1), persistent=False)
        first, second = stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(1, first, 3, bias=False),
            nn.BatchNorm2d(first, eps=KERAS_BATCH_NORM_EPS),
            nn.ReLU(),
            nn.Conv2d(first, second, 3, bias=False),
            nn.BatchNorm2d(second, eps=KERAS_BATCH_NORM_EPS),
            nn.ReLU(),
        )
        widths = [second, *block_channels]
        self.blocks = nn.ModuleList(MiniXceptionBlock(widths[i], widths[i + 1]) for i in range(len(block_channels)))
        self.classifier = nn.Conv2d(widths[-1], num_classes, 3, padding=1)
        self.out_channels = widths[-1]
        self.num_classes = num_classes

    @classmethod
    def from_model_config(cls, config) -> MiniXceptionEncoder:
        """Build the visual stem an av_emotion config asks for with `visual_backbone="mini_xception"`.

        `config` has `num_channels` and `mini_xception_channels` (two stem widths, then the block widths) and
        `mini_xception_num_classes` (AVT-CA's and JCA's configs both do).
        """
        return cls(
            in_channels=config.num_channels,
            stem_channels=config.mini_xception_channels[:2],
            block_channels=config.mini_xception_channels[2:],
            num_classes=config.mini_xception_num_classes,
        )

    def _grey(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.in_channels:
            raise ValueError(
                f"mini-Xception expects frames (num_frames, {self.in_channels}, height, width), got "
                f"{tuple(pixel_values.shape)}"
            )
        grey = (
            (pixel_values * self.luma.to(pixel_values.dtype)).sum(1, keepdim=True)
            if self.in_channels == 3
            else pixel_values
        )
        if grey.shape[-2:] != (self.input_size, self.input_size):
            grey = F.interpolate(grey, size=(self.input_size, self.input_size), mode="bilinear", antialias=True)
        return grey

    def feature_map(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> the last residual module's map (N, block_channels[-1], 4, 4) at 64x64."""
        hidden_states = self.stem(self._grey(pixel_values))
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return hidden_states

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, block_channels[-1]) frame features (global average of the last map)."""
        return self.feature_map(pixel_values).mean(dim=(2, 3))

    def classify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes) expression logits (softmax gives the published model's output)."""
        return self.classifier(self.feature_map(pixel_values)).mean(dim=(2, 3))


__all__ = ["KERAS_BATCH_NORM_EPS", "LUMA_WEIGHTS", "MiniXceptionBlock", "MiniXceptionEncoder", "tf_same_max_pool"]
