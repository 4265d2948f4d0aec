"""Key mappings from the papers' published backbones to av_emotion's encoders.

Each mapping documents, rule by rule, where a published parameter goes. Sources (read, not copied):

* **EfficientFace** (Zhao et al. 2021, github.com/zengqunzhao/EfficientFace, `models/EfficientFace.py`), the
  checkpoint `EfficientFace_Trained_on_AffectNet7.pth.tar` that Chumachenko et al. 2022 and AVT-CA load into
  their visual stem (`checkpoint["state_dict"]`, keys prefixed `module.` by `nn.DataParallel`):

  ===========================================  ===============================================================
  EfficientFace key                             `EfficientFaceEncoder` key
  ===========================================  ===============================================================
  `conv1.{0,1}.*` (3x3 s2 conv, BN)             `stem.{0,1}.*` (the max-pool, `stem.3`, has no parameters)
  `stage{2,3,4}.*`, `conv5.*`                   same names (same ShuffleNet-V2 units)
  `local.conv{p}_{j}.weight`, `local.bn{p}_{j}.*`  `local.conv{j}.weight`, `local.bn{j}.*`: the four patches'
                                                depthwise kernels concatenated in our row-major patch order
                                                (p = 1 top-left, 3 top-right, 2 bottom-left, 4 bottom-right;
                                                the original slices `patch_21` = rows 28:56, cols 0:28)
  `modulator.channel_att.gate_c.gate_c_fc_0`    `modulator.channel_attention.fc1`
  `modulator.channel_att.gate_c.gate_c_bn_1`    `modulator.channel_attention.bn`
  `modulator.channel_att.gate_c.gate_c_fc_final` `modulator.channel_attention.fc2`
  `modulator.spatial_att.gate_s.gate_s_conv_reduce0` / `_bn_reduce0`  `modulator.spatial_attention.layers.0` / `.1`
  `modulator.spatial_att.gate_s.gate_s_conv_di_{i}` / `_bn_di_{i}`     `...layers.{3 + 3i}` / `.{4 + 3i}`
  `modulator.spatial_att.gate_s.gate_s_conv_final`                     `...layers.{3 + 3n}` (n dilated convs)
  `fc.*` (the AffectNet-7 classifier)           skipped
  ===========================================  ===============================================================

  Chumachenko et al.'s own checkpoints (`EfficientFaceTemporal`) use the same names at the top level, plus
  their temporal `conv1d_*` and classifier, which are skipped.

* **torchvision video ResNets** `r3d_18` / `r2plus1d_18` (Kinetics-400; `torchvision.models.video.resnet`),
  the 3D-CNN starting point for Mocanu et al. and the R(2+1)D-18 of JCA (via TSAV, Kuhnke et al. 2020):
  `stem.*` -> `stem.*`; `layer{l}.{b}.conv{c}.0.*` -> `stages.{l-1}.{b}.conv{c}.*`;
  `layer{l}.{b}.conv{c}.1.*` -> `stages.{l-1}.{b}.bn{c}.*`; `layer{l}.{b}.downsample.*` -> same under
  `stages.{l-1}.{b}`; `fc.*` (Kinetics classifier) skipped. R(2+1)D needs `layout="torchvision"` in the
  encoder (its factorised stem and per-block widths).

* **torchvision ResNet-18** (2D), JCA's audio network: TSAV's `AudioModel` is torchvision's `resnet18` with a
  one-channel `conv1` initialised as the mean of the ImageNet RGB kernels; `conv1` -> `stem.0` (RGB kernels
  averaged to one channel when needed), `bn1` -> `stem.1`, `layer{l}.{b}.*` -> `stages.{l-1}.{b}.*` (same
  block names), `fc.*` skipped.

* **TSAV two-stream checkpoints** (the model JCA's authors start from): the video network under
  `video_model.r2plus1d.` and the audio one under `audio_model.resnet.`; `checkpoint_networks` picks them.
"""

from __future__ import annotations

import re

import torch

from av_emotion.convert.mapping import KeyMapping, StateDict, average_input_channels

# Our row-major patch order (top-left, top-right, bottom-left, bottom-right) in EfficientFace's patch numbers.
EFFICIENTFACE_PATCH_ORDER = (1, 3, 2, 4)


def _merge_efficientface_local(source: StateDict) -> tuple[StateDict, set[str]]:
    """Concatenate the four per-patch depthwise convolutions and norms into our grouped ones."""
    produced: StateDict = {}
    consumed: set[str] = set()
    pattern = re.compile(r"local\.(conv|bn)([1-4])_([12])\.(.+)")
    groups: dict[tuple[str, str, str], dict[int, str]] = {}
    for key in source:
        match = pattern.fullmatch(key)
        if match:
            kind, patch, index, param = match.groups()
            groups.setdefault((kind, index, param), {})[int(patch)] = key
    for (kind, index, param), by_patch in groups.items():
        if set(by_patch) != set(EFFICIENTFACE_PATCH_ORDER):
            continue  # incomplete: leave the keys to be reported as unexpected
        tensors = [source[by_patch[patch]] for patch in EFFICIENTFACE_PATCH_ORDER]
        target = f"local.{kind}{index}.{param}"
        # num_batches_tracked is a scalar per norm: the four counts are equal in a trained checkpoint.
        produced[target] = tensors[0].clone() if tensors[0].ndim == 0 else torch.cat(tensors, dim=0)
        consumed.update(by_patch.values())
    return produced, consumed


def efficientface_mapping(num_dilated_convs: int = 2) -> KeyMapping:
    """EfficientFace / Chumachenko et al. checkpoint -> `EfficientFaceEncoder` (see the module docstring)."""
    final = 3 + 3 * num_dilated_convs
    return KeyMapping(
        name="EfficientFace",
        merges=[_merge_efficientface_local],
        rename=[
            (r"conv1\.([01])\.(.+)", r"stem.\1.\2"),
            (r"(stage[234]\..+)", r"\1"),
            (r"(conv5\..+)", r"\1"),
            (r"modulator\.channel_att\.gate_c\.gate_c_fc_0\.(.+)", r"modulator.channel_attention.fc1.\1"),
            (r"modulator\.channel_att\.gate_c\.gate_c_bn_1\.(.+)", r"modulator.channel_attention.bn.\1"),
            (r"modulator\.channel_att\.gate_c\.gate_c_fc_final\.(.+)", r"modulator.channel_attention.fc2.\1"),
            (r"modulator\.spatial_att\.gate_s\.gate_s_conv_reduce0\.(.+)", r"modulator.spatial_attention.layers.0.\1"),
            (r"modulator\.spatial_att\.gate_s\.gate_s_bn_reduce0\.(.+)", r"modulator.spatial_attention.layers.1.\1"),
            (
                r"modulator\.spatial_att\.gate_s\.gate_s_conv_di_(\d+)\.(.+)",
                lambda m: f"modulator.spatial_attention.layers.{3 + 3 * int(m[1])}.{m[2]}",
            ),
            (
                r"modulator\.spatial_att\.gate_s\.gate_s_bn_di_(\d+)\.(.+)",
                lambda m: f"modulator.spatial_attention.layers.{4 + 3 * int(m[1])}.{m[2]}",
            ),
            (
                r"modulator\.spatial_att\.gate_s\.gate_s_conv_final\.(.+)",
                lambda m: f"modulator.spatial_attention.layers.{final}.{m[1]}",
            ),
        ],
        skip=[
            (r"fc\..+", "EfficientFace's AffectNet-7 classifier (not part of the frame encoder)"),
            (r"conv1d_\d+\..+", "Chumachenko et al.'s temporal Conv1d stage (not part of the frame encoder)"),
            (r"classifier_\d+\..+", "Chumachenko et al.'s clip classifier (not part of the frame encoder)"),
        ],
    )


def _layer(match: re.Match, suffix: str) -> str:
    return f"stages.{int(match[1]) - 1}.{match[2]}.{suffix}"


def torchvision_video_resnet_mapping() -> KeyMapping:
    """Map torchvision `r3d_18` / `r2plus1d_18` -> `ResNet3dEncoder` (see the module docstring)."""
    return KeyMapping(
        name="torchvision video ResNet",
        rename=[
            (r"(stem\.\d+\..+)", r"\1"),
            (r"layer([1-4])\.(\d+)\.conv([12])\.0\.(.+)", lambda m: _layer(m, f"conv{m[3]}.{m[4]}")),
            (r"layer([1-4])\.(\d+)\.conv([12])\.1\.(.+)", lambda m: _layer(m, f"bn{m[3]}.{m[4]}")),
            (r"layer([1-4])\.(\d+)\.downsample\.(.+)", lambda m: _layer(m, f"downsample.{m[3]}")),
        ],
        skip=[(r"fc\..+", "the Kinetics-400 classifier (not part of the encoder)")],
    )


def torchvision_resnet_audio_mapping() -> KeyMapping:
    """Map torchvision `resnet18` (RGB or one-channel `conv1`) -> `ResNet2dEncoder` (see the module docstring)."""
    return KeyMapping(
        name="torchvision ResNet (audio)",
        rename=[
            (r"conv1\.weight", "stem.0.weight"),
            (r"bn1\.(.+)", r"stem.1.\1"),
            (r"layer([1-4])\.(\d+)\.(.+)", lambda m: _layer(m, m[3])),
        ],
        skip=[(r"fc\..+", "the checkpoint's classifier (not part of the encoder)")],
        convert={r"stem\.0\.weight": average_input_channels},
    )


# Prefixes of the networks inside a TSAV two-stream checkpoint (Kuhnke et al. 2020, used by JCA's authors).
TSAV_PREFIXES = {"video": "video_model.r2plus1d.", "audio": "audio_model.resnet."}


def checkpoint_networks(state_dict: StateDict) -> dict[str, StateDict]:
    """Split a checkpoint into its networks: `{"video": ..., "audio": ...}` for TSAV, else `{"single": ...}`."""
    networks = {
        modality: {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        for modality, prefix in TSAV_PREFIXES.items()
    }
    networks = {modality: tensors for modality, tensors in networks.items() if tensors}
    return networks or {"single": state_dict}


__all__ = [
    "EFFICIENTFACE_PATCH_ORDER",
    "TSAV_PREFIXES",
    "checkpoint_networks",
    "efficientface_mapping",
    "torchvision_resnet_audio_mapping",
    "torchvision_video_resnet_mapping",
]
