"""AVT-CA (2024): audio-video transformer fusion followed by cross-attention.

Importing this package registers the architecture (`model_type="avt_ca"`) with the Auto classes.
"""

from av_emotion.modeling.auto import register_architecture
from av_emotion.modeling.avt_ca.configuration_avt_ca import RAVDESS_ID2LABEL, AVTCAConfig
from av_emotion.modeling.avt_ca.modeling_avt_ca import (
    AVTCAForEmotionClassification,
    AVTCAModel,
    AVTCAPreTrainedModel,
)

register_architecture(AVTCAConfig, AVTCAModel, AVTCAForEmotionClassification)

__all__ = [
    "RAVDESS_ID2LABEL",
    "AVTCAConfig",
    "AVTCAForEmotionClassification",
    "AVTCAModel",
    "AVTCAPreTrainedModel",
]
