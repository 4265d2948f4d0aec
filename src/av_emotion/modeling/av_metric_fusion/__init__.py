"""Mocanu, Tapu & Zaharia 2023: attention 3D-CNN + audio 2D-CNN + cross-attention + emotional-metric loss.

Importing this package registers the architecture (`model_type="av_metric_fusion"`) with `AutoConfig`,
`AutoModel`, `AutoModelForAudioVideoClassification` and `AutoModelForVideoClassification`.
"""

from av_emotion.modeling.auto import register_architecture
from av_emotion.modeling.av_metric_fusion.configuration_av_metric_fusion import RAVDESS_EMOTIONS, AVMetricFusionConfig
from av_emotion.modeling.av_metric_fusion.modeling_av_metric_fusion import (
    AVMetricFusionForEmotionClassification,
    AVMetricFusionModel,
    AVMetricFusionModelOutput,
    AVMetricFusionPreTrainedModel,
)

register_architecture(AVMetricFusionConfig, AVMetricFusionModel, AVMetricFusionForEmotionClassification)

__all__ = [
    "RAVDESS_EMOTIONS",
    "AVMetricFusionConfig",
    "AVMetricFusionForEmotionClassification",
    "AVMetricFusionModel",
    "AVMetricFusionModelOutput",
    "AVMetricFusionPreTrainedModel",
]
