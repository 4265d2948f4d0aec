"""Joint Cross-Attention (Praveen et al., CVPRW 2022): audio-visual valence/arousal regression and emotion classes."""

from av_emotion.modeling.auto import register_architecture

from .configuration_joint_cross_attention import REGRESSION_TARGETS, JointCrossAttentionConfig
from .modeling_joint_cross_attention import (
    JointCrossAttentionForEmotionClassification,
    JointCrossAttentionForEmotionRegression,
    JointCrossAttentionFusion,
    JointCrossAttentionModel,
    JointCrossAttentionOutput,
    JointCrossAttentionPreTrainedModel,
)

register_architecture(
    JointCrossAttentionConfig,
    JointCrossAttentionModel,
    JointCrossAttentionForEmotionClassification,
    regression_class=JointCrossAttentionForEmotionRegression,
)

__all__ = [
    "REGRESSION_TARGETS",
    "JointCrossAttentionConfig",
    "JointCrossAttentionForEmotionClassification",
    "JointCrossAttentionForEmotionRegression",
    "JointCrossAttentionFusion",
    "JointCrossAttentionModel",
    "JointCrossAttentionOutput",
    "JointCrossAttentionPreTrainedModel",
]
