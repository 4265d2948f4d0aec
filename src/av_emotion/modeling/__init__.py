"""Models: shared blocks, losses, outputs and one sub-package per architecture."""

# Importing an architecture's sub-package registers it with the Auto classes.
from av_emotion.modeling.auto import (
    ARCHITECTURES,
    Architecture,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    register_architecture,
)
from av_emotion.modeling.outputs import AVEmotionOutput

# isort: split
# Importing an architecture's sub-package registers it with the Auto classes (see auto.register_architecture).
from av_emotion.modeling import av_metric_fusion, avt_ca, joint_cross_attention  # noqa: F401

__all__ = [
    "ARCHITECTURES",
    "AVEmotionOutput",
    "Architecture",
    "AutoModelForAudioVideoClassification",
    "AutoModelForAudioVideoRegression",
    "register_architecture",
]
