"""Converters from published checkpoints (the papers' backbones, a Keras face-expression model) to av_emotion."""

from av_emotion.convert.mapping import KeyMapping, load_torch_checkpoint, load_with_mapping
from av_emotion.convert.pretrained import BACKBONE_FORMATS, convert_backbones, load_backbone
from av_emotion.convert.report import LoadingReport

__all__ = [
    "BACKBONE_FORMATS",
    "KeyMapping",
    "LoadingReport",
    "convert_backbones",
    "load_backbone",
    "load_torch_checkpoint",
    "load_with_mapping",
]
