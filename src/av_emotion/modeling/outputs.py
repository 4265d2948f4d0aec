"""Output containers shared by every av_emotion model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput

# Output fields that `transformers.Trainer` leaves out of `EvalPrediction.predictions`, so `compute_metrics`
# receives the logits alone (`PretrainedConfig.keys_to_ignore_at_inference`).
KEYS_TO_IGNORE_AT_INFERENCE = [
    "audio_logits",
    "video_logits",
    "embeddings",
    "attentions",
    "hidden_states",
    "step_logits",
    "last_hidden_state",
    "step_mask",
]


@dataclass
class AVEmotionOutput(ModelOutput):
    """Output of every av_emotion model and head.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Training loss, returned when `labels` are given (classification: cross-entropy plus any
            auxiliary term the architecture defines; regression: 1 - CCC summed over the targets).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Class scores before softmax, or the regression outputs (valence, arousal) in [-1, 1].
        audio_logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            Scores from the audio branch alone (for ablations), where the architecture has such a head.
        video_logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            Scores from the video branch alone (for ablations), where the architecture has such a head.
        embeddings (`torch.FloatTensor` of shape `(batch_size, hidden_size)`, *optional*):
            The fused clip embedding the head reads.
        attentions (`dict[str, torch.FloatTensor]`, *optional*):
            Attention maps by name (for example `"spatial"`, `"channel"`, `"temporal_video"`,
            `"cross_audio_to_video"`), returned when `output_attentions=True`. Shapes are documented by
            each architecture.
        hidden_states (`dict[str, torch.FloatTensor]`, *optional*):
            Intermediate sequences by name, returned when `output_hidden_states=True` (or
            `config.output_hidden_states`); names and shapes are documented by each architecture.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    audio_logits: torch.FloatTensor | None = None
    video_logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    attentions: dict[str, torch.FloatTensor] | None = None
    hidden_states: dict[str, torch.FloatTensor] | None = None
