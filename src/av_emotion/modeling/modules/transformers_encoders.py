"""transformers models as av_emotion encoders (image per frame, video per clip, speech on the waveform).

Each is built from a sub-config of the architecture's config (the way transformers composes multimodal models)
and loaded from its checkpoint by `build_with_pretrained_encoders`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig


class TransformersFrameEncoder(nn.Module):
    """A transformers image model as a per-frame stem: `(N, C, H, W)` -> `(N, out_channels)`.

    The frame feature is the model's `pooler_output` when it has one (ViT's pooled CLS token, ConvNeXt's pooled
    and normalised last stage), else the mean of `last_hidden_state` over tokens.
    """

    def __init__(self, config: PreTrainedConfig):
        super().__init__()
        self.model = AutoModel.from_config(config)
        hidden_sizes = getattr(config, "hidden_sizes", None)
        self.out_channels = int(hidden_sizes[-1] if hidden_sizes else config.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, out_channels)."""
        outputs = self.model(pixel_values=pixel_values)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None:
            pooled = outputs.last_hidden_state.mean(dim=1)
        return pooled.reshape(pooled.shape[0], -1)


class TransformersAudioEncoder(nn.Module):
    """A transformers speech model on raw waveforms: `(B, samples)` -> frames `(B, hidden, L)` and their mask.

    A clip's valid frames come from its valid samples through the model's own length rule
    (`_get_feat_extract_output_lengths` for wav2vec2-style models). The attention mask is passed only to models
    whose feature encoder normalises per layer (`feat_extract_norm="layer"`); the others expect zero padding,
    which is what the processor gives.
    """

    def __init__(self, config: PreTrainedConfig):
        super().__init__()
        self.model = AutoModel.from_config(config)
        self.out_channels = int(config.hidden_size)

    def forward(self, waveform: torch.Tensor, sample_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples), (B, samples) bool -> (B, hidden, L), (B, L) bool."""
        waveform = waveform * sample_mask.to(waveform.dtype)
        kwargs = {}
        if getattr(self.model.config, "feat_extract_norm", "layer") == "layer":
            kwargs["attention_mask"] = sample_mask.long()
        hidden = self.model(input_values=waveform, **kwargs).last_hidden_state  # (B, L, H)
        length = hidden.shape[1]
        if hasattr(self.model, "_get_feat_extract_output_lengths"):
            valid = self.model._get_feat_extract_output_lengths(sample_mask.sum(dim=-1))
            frame_mask = torch.arange(length, device=hidden.device)[None, :] < valid[:, None]
        else:
            frame_mask = sample_mask.any(dim=-1, keepdim=True).expand(-1, length)
        return hidden.transpose(1, 2), frame_mask


class TransformersClipEncoder(nn.Module):
    """A transformers video model (VideoMAE, TimeSformer, ...) over a clip: `(N, T, C, H, W)` -> `(N, out_channels)`.

    The clip feature is the model's `pooler_output` when it has one, else the mean of `last_hidden_state`.
    """

    def __init__(self, config: PreTrainedConfig):
        super().__init__()
        self.model = AutoModel.from_config(config)
        self.out_channels = int(config.hidden_size)
        self.num_frames = int(getattr(config, "num_frames", 0)) or None

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) -> (N, out_channels)."""
        if self.num_frames is not None and pixel_values.shape[1] != self.num_frames:
            raise ValueError(
                f"the video encoder takes clips of {self.num_frames} frames (its config's num_frames), got "
                f"{pixel_values.shape[1]}; set frames_per_subclip to {self.num_frames}"
            )
        outputs = self.model(pixel_values=pixel_values)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None:
            pooled = outputs.last_hidden_state.mean(dim=1)
        return pooled.reshape(pooled.shape[0], -1)


def is_video_model_config(config: PreTrainedConfig) -> bool:
    """Whether a vision sub-config describes a video model (it has a frame count and a tubelet/time axis)."""
    return hasattr(config, "num_frames") and (hasattr(config, "tubelet_size") or "video" in config.model_type)


def build_with_pretrained_encoders(
    model_class: type,
    config_class: type,
    vision_encoder: str | None = None,
    audio_encoder: str | None = None,
    **config_kwargs,
):
    """Build `model_class` with the configs of two encoder checkpoints (path or Hub id) and load their weights.

    The checkpoints' configs become `vision_encoder_config` / `audio_encoder_config` of `config_class`; everything
    but the encoders is freshly initialised.
    """
    paths = {"vision_encoder_config": vision_encoder, "audio_encoder_config": audio_encoder}
    for key, path in paths.items():
        if path is not None:
            config_kwargs[key] = AutoConfig.from_pretrained(path)
    model = model_class(config_class(**config_kwargs))
    base = getattr(model, model.base_model_prefix, model)
    for encoder, path in ((base.video_encoder, vision_encoder), (base.audio_encoder, audio_encoder)):
        if path is not None:
            pretrained = AutoModel.from_pretrained(path)
            encoder.model.load_state_dict(pretrained.state_dict(), strict=True)
    return model


__all__ = [
    "TransformersAudioEncoder",
    "TransformersClipEncoder",
    "TransformersFrameEncoder",
    "build_with_pretrained_encoders",
    "is_video_model_config",
]
