"""Models: shared blocks, losses, outputs and one sub-package per architecture."""

from av_emotion.modeling import avt_ca  # noqa: F401  (registers AVT-CA with the Auto classes)
from av_emotion.modeling.auto import (
    ARCHITECTURES,
    Architecture,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    register_architecture,
)
from av_emotion.modeling.outputs import AVEmotionOutput

__all__ = [
    "ARCHITECTURES",
    "AVEmotionOutput",
    "Architecture",
    "AutoModelForAudioVideoClassification",
    "AutoModelForAudioVideoRegression",
    "register_architecture",
]
