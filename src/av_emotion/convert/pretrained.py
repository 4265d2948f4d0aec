"""Load a published backbone checkpoint into an av_emotion model, and write the converted model.

`load_backbone(model, "video", "efficientface", path)` reads the checkpoint safely, maps its keys onto the
model's video encoder (`av_emotion.modeling.encoders`) and returns a `LoadingReport`.
`convert_backbones(...)` does that for every given checkpoint and writes the model with `save_pretrained`
(safetensors) plus `conversion_report.json`; recipes then start from it with `model.pretrained: <folder>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from transformers import PreTrainedModel

from av_emotion.convert.backbones import (
    checkpoint_networks,
    efficientface_mapping,
    torchvision_resnet_audio_mapping,
    torchvision_video_resnet_mapping,
)
from av_emotion.convert.mapping import KeyMapping, StateDict, load_torch_checkpoint, load_with_mapping
from av_emotion.convert.report import LoadingReport
from av_emotion.modeling.encoders import encoder_modules
from av_emotion.modeling.modules.efficientface import EfficientFaceEncoder
from av_emotion.modeling.modules.mini_xception import MiniXceptionEncoder
from av_emotion.modeling.modules.resnet import Conv2Plus1d, ResNet2dEncoder, ResNet3dEncoder

REPORT_FILE = "conversion_report.json"
# Where a model folder records the published backbones it holds, so every card rendered for it (after training,
# after `av-emotion push`) names them and carries the notices their licences require.
PROVENANCE_FILE = "pretrained_backbones.json"


@dataclass(frozen=True)
class BackboneFormat:
    """A published checkpoint format: which encoder it fits and how its keys map."""

    name: str
    modality: str
    description: str
    encoder_class: type[nn.Module]
    mapping: Callable[[nn.Module], KeyMapping]
    check: Callable[[nn.Module], str | None] = lambda encoder: None
    reader: Callable[[str | Path], StateDict] = load_torch_checkpoint
    # Attribution and licence text the converted model's card must carry (None: nothing required).
    notice: Callable[[], str] | None = None


def _check_r3d(encoder: nn.Module) -> str | None:
    if any(isinstance(module, Conv2Plus1d) for module in encoder.modules()):
        return "the model's 3D ResNet is an R(2+1)D; set its conv type to '3d' (visual_conv_type / video_conv_type)"
    return None


def _check_r2plus1d(encoder: nn.Module) -> str | None:
    if not any(isinstance(module, Conv2Plus1d) for module in encoder.modules()) or len(encoder.stem) != 6:
        return (
            "the model's 3D ResNet is not torchvision's R(2+1)D layout; set the conv type to '2plus1d' and the "
            "backbone layout to 'torchvision' (JCA: visual_conv_type / visual_backbone_layout; Mocanu: "
            "video_conv_type / video_backbone_layout)"
        )
    return None


BACKBONE_FORMATS: dict[str, BackboneFormat] = {
    "efficientface": BackboneFormat(
        "efficientface",
        "video",
        "EfficientFace (Zhao et al. 2021) trained on AffectNet-7, `EfficientFace_Trained_on_AffectNet7.pth.tar`",
        EfficientFaceEncoder,
        lambda encoder: efficientface_mapping(
            sum(isinstance(m, nn.Conv2d) for m in encoder.modulator.spatial_attention.layers) - 2
        ),
    ),
    "torchvision_r3d": BackboneFormat(
        "torchvision_r3d",
        "video",
        "torchvision `r3d_18` Kinetics-400 weights (`r3d_18-b3b3357e.pth`)",
        ResNet3dEncoder,
        lambda encoder: torchvision_video_resnet_mapping(),
        _check_r3d,
    ),
    "torchvision_r2plus1d": BackboneFormat(
        "torchvision_r2plus1d",
        "video",
        "torchvision `r2plus1d_18` Kinetics-400 weights (`r2plus1d_18-91a641e6.pth`), or a TSAV checkpoint",
        ResNet3dEncoder,
        lambda encoder: torchvision_video_resnet_mapping(),
        _check_r2plus1d,
    ),
    "torchvision_resnet": BackboneFormat(
        "torchvision_resnet",
        "audio",
        "torchvision `resnet18` (ImageNet RGB: conv1 averaged to one channel) or a TSAV checkpoint",
        ResNet2dEncoder,
        lambda encoder: torchvision_resnet_audio_mapping(),
    ),
    "keras_mini_xception": BackboneFormat(
        "keras_mini_xception",
        "video",
        "Keras HDF5 mini-Xception trained on FER2013 (`fer2013_mini_XCEPTION.102-0.66.hdf5`; needs h5py); set "
        "visual_backbone=mini_xception",
        MiniXceptionEncoder,
        lambda encoder: KeyMapping(name="mini-Xception (Keras)", rename=[(r"(.+)", r"\1")]),
        reader=lambda path: _keras_reader(path),
        notice=lambda: _keras_notice(),
    ),
}


def _keras_reader(path: str | Path) -> StateDict:
    from av_emotion.convert.keras_mini_xception import convert_keras_mini_xception

    return convert_keras_mini_xception(path)[0]


def _keras_notice() -> str:
    from av_emotion.convert.keras_mini_xception import FER2013_MINI_XCEPTION_LICENSE, MODEL_CARD_NOTICE

    return MODEL_CARD_NOTICE + "\n\n```\n" + FER2013_MINI_XCEPTION_LICENSE + "```\n"


def load_backbone(
    model: PreTrainedModel,
    modality: str,
    format_name: str,
    checkpoint: str | Path | StateDict,
) -> LoadingReport:
    """Load a published backbone checkpoint into `model`'s `modality` encoder.

    Args:
        model: An av_emotion model (any head).
        modality: `"video"` or `"audio"`.
        format_name: A key of `BACKBONE_FORMATS`.
        checkpoint: Path of the checkpoint (read with `torch.load(weights_only=True)`), or a state dict.
            A TSAV two-stream checkpoint is split and the `modality` network taken.

    Returns:
        The loading report (missing / unexpected / mismatched / skipped keys).

    Raises:
        ValueError: unknown format, a format for the other modality, or an encoder that cannot take it.
    """
    if format_name not in BACKBONE_FORMATS:
        raise ValueError(f"unknown backbone format {format_name!r}; known: {sorted(BACKBONE_FORMATS)}")
    backbone = BACKBONE_FORMATS[format_name]
    if backbone.modality != modality:
        raise ValueError(f"{format_name} is a {backbone.modality} backbone, not a {modality} one")
    encoders = encoder_modules(model)
    if modality not in encoders:
        raise ValueError(f"{model.config.model_type} has no pretrained {modality} encoder; it has {sorted(encoders)}")
    encoder = encoders[modality]
    if not isinstance(encoder, backbone.encoder_class):
        raise ValueError(
            f"{model.config.model_type}'s {modality} encoder is a {type(encoder).__name__}; {format_name} "
            f"checkpoints load into a {backbone.encoder_class.__name__}"
        )
    problem = backbone.check(encoder)
    if problem:
        raise ValueError(f"cannot load {format_name} into {model.config.model_type}: {problem}")
    if isinstance(checkpoint, (str, Path)):
        label, state_dict = str(checkpoint), backbone.reader(checkpoint)
    else:
        # as from a file: without the `module.` prefix nn.DataParallel adds
        label = "<state dict>"
        state_dict = {key.removeprefix("module."): value for key, value in checkpoint.items()}
    networks = checkpoint_networks(state_dict)
    state_dict = networks.get(modality, networks.get("single"))
    if state_dict is None:
        raise ValueError(f"{label}: a two-stream checkpoint without a {modality} network (has {sorted(networks)})")
    return load_with_mapping(
        encoder,
        state_dict,
        backbone.mapping(encoder),
        target=f"{model.config.model_type} {modality} encoder ({type(encoder).__name__})",
        checkpoint=label,
    )


def convert_backbones(
    model: PreTrainedModel,
    checkpoints: dict[str, tuple[str, str | Path]],
    output_dir: str | Path,
    *,
    strict: bool = True,
    on_report: Callable[[LoadingReport], None] | None = None,
) -> list[LoadingReport]:
    """Load each `{modality: (format, path)}` checkpoint into `model` and save it (safetensors) to `output_dir`.

    `on_report` receives every load report as soon as it exists (the command line prints its table). With
    `strict`, a report with missing, unexpected or mismatched keys raises `ValueError` and nothing is written.
    Writes `model.safetensors` + `config.json` (`save_pretrained`), `conversion_report.json` and a model card
    (`README.md`) naming each source and carrying the notices its licence requires.
    """
    reports = []
    for modality, (fmt, path) in checkpoints.items():
        report = load_backbone(model, modality, fmt, path)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    failed = [report for report in reports if not report.ok]
    if strict and failed:
        counts = ", ".join(
            f"{report.target}: {len(report.missing)} missing, {len(report.unexpected)} unexpected, "
            f"{len(report.mismatched)} mismatched"
            for report in failed
        )
        raise ValueError(
            f"the checkpoint does not fit the model ({counts}; the load report lists the keys); check the model "
            "config matches the checkpoint, or pass strict=False (--no-strict) to write it anyway"
        )
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    (output_dir / REPORT_FILE).write_text(json.dumps([report.to_dict() for report in reports], indent=2) + "\n")
    (output_dir / "README.md").write_text(conversion_model_card(model, checkpoints, reports))
    write_provenance(output_dir, backbone_provenance(checkpoints))
    return reports


def backbone_provenance(checkpoints: dict[str, tuple[str, str | Path]]) -> list[dict[str, str]]:
    """Describe `{modality: (format, path)}` backbones: format, source file name, description, required notice."""
    entries = []
    for modality, (fmt, path) in checkpoints.items():
        backbone = BACKBONE_FORMATS[fmt]
        entries.append(
            {
                "modality": modality,
                "format": fmt,
                "checkpoint": Path(path).name,
                "description": backbone.description,
                "notice": backbone.notice() if backbone.notice is not None else "",
            }
        )
    return entries


def read_provenance(model_dir: str | Path) -> list[dict[str, str]]:
    """Return the backbones recorded in `model_dir/pretrained_backbones.json` (empty when there is none)."""
    path = Path(model_dir) / PROVENANCE_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()))


def write_provenance(output_dir: str | Path, entries: list[dict[str, str]]) -> None:
    """Record `entries` in `output_dir/pretrained_backbones.json` (nothing is written for none)."""
    if entries:
        (Path(output_dir) / PROVENANCE_FILE).write_text(json.dumps(entries, indent=2) + "\n")


def provenance_card_section(entries: list[dict[str, str]]) -> str:
    """Markdown section naming the published backbones a model starts from, with their licence notices."""
    if not entries:
        return ""
    lines = ["## Pretrained backbones", ""]
    for entry in entries:
        lines.append(
            f"- {entry['modality']} encoder: `{entry['format']}`, {entry['description']} (`{entry['checkpoint']}`)."
        )
    for entry in entries:
        if entry.get("notice"):
            lines += ["", f"### Attribution and licence: {entry['format']}", "", entry["notice"].rstrip()]
    return "\n".join(lines) + "\n"


def conversion_model_card(
    model: PreTrainedModel, checkpoints: dict[str, tuple[str, str | Path]], reports: list[LoadingReport]
) -> str:
    """Model card of a converted model: where each backbone came from, its load summary, required notices."""
    lines = [
        "---",
        "library_name: transformers",
        "tags: [av_emotion, audio-video-emotion, converted-backbone]",
        "---",
        "",
        f"# {model.config.model_type} with converted pretrained backbones",
        "",
        "Written by `av-emotion convert`: the encoders below hold published weights; every other layer (fusion, heads)",
        "is freshly initialised and must be trained (`model.pretrained: <this folder>` in a recipe).",
        "",
    ]
    for (modality, (fmt, path)), report in zip(checkpoints.items(), reports):
        backbone = BACKBONE_FORMATS[fmt]
        lines += [
            f"## {modality} encoder: {fmt}",
            "",
            f"- Source: {backbone.description}, read from `{Path(path).name}`.",
            f"- Load: {len(report.loaded)} tensors loaded, {len(report.missing)} missing, {len(report.unexpected)} "
            f"unexpected, {len(report.mismatched)} mismatched, {len(report.skipped)} skipped "
            "(details in `conversion_report.json`).",
            "",
        ]
        if backbone.notice is not None:
            lines += ["### Attribution and licence", "", backbone.notice(), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = [
    "BACKBONE_FORMATS",
    "PROVENANCE_FILE",
    "REPORT_FILE",
    "backbone_provenance",
    "provenance_card_section",
    "read_provenance",
    "write_provenance",
    "BackboneFormat",
    "conversion_model_card",
    "convert_backbones",
    "load_backbone",
]
