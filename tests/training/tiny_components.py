"""Throwaway stand-ins used by the training tests only: a tiny registered model and a PyAV processor.

They let the loop, checkpointing and resume be tested in seconds; the real architectures and the real
processor are exercised by tests/recipes.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import torch
from transformers import PretrainedConfig, PreTrainedModel

from av_emotion.modeling import AVEmotionOutput, register_architecture


class TinyAVConfig(PretrainedConfig):
    model_type = "tiny_av_test"

    def __init__(self, hidden_size: int = 8, dropout: float = 0.2, **kwargs):
        self.hidden_size = hidden_size
        self.dropout = dropout
        super().__init__(**kwargs)


class TinyAVModel(PreTrainedModel):
    config_class = TinyAVConfig
    base_model_prefix = "tiny"
    main_input_name = "pixel_values_videos"

    def __init__(self, config):
        super().__init__(config)
        self.video = torch.nn.Linear(3, config.hidden_size)
        self.audio = torch.nn.Linear(4, config.hidden_size)
        self.dropout = torch.nn.Dropout(config.dropout)
        self.post_init()

    def forward(self, pixel_values_videos=None, input_features=None, video_mask=None, audio_mask=None, labels=None):
        video = self.video(pixel_values_videos.mean(dim=(1, 3, 4)))  # (B, C) -> (B, H)
        audio = self.audio(input_features.mean(dim=-1))  # (B, F) -> (B, H)
        return self.dropout(torch.tanh(video + audio))


class TinyAVForClassification(PreTrainedModel):
    config_class = TinyAVConfig
    base_model_prefix = "tiny"
    main_input_name = "pixel_values_videos"

    def __init__(self, config):
        super().__init__(config)
        self.tiny = TinyAVModel(config)
        self.head = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, pixel_values_videos=None, input_features=None, video_mask=None, audio_mask=None, labels=None):
        embeddings = self.tiny(pixel_values_videos, input_features)
        logits = self.head(embeddings)
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return AVEmotionOutput(loss=loss, logits=logits, embeddings=embeddings)


def register_tiny() -> None:
    register_architecture(TinyAVConfig, TinyAVModel, TinyAVForClassification)


class TinyProcessor:
    """Decodes `num_frames` frames (`size` x `size` RGB) and `num_features` x `num_steps` audio band energies."""

    def __init__(self, size: int = 8, num_frames: int = 4, num_features: int = 4, num_steps: int = 10):
        self.size, self.num_frames, self.num_features, self.num_steps = size, num_frames, num_features, num_steps

    def __call__(self, videos, audio=None, return_tensors="pt"):
        pixels, features = [], []
        for index, path in enumerate(videos):
            with av.open(str(path)) as container:
                frames = [
                    frame.to_ndarray(width=self.size, height=self.size, format="rgb24")
                    for frame in container.decode(video=0)
                ][: self.num_frames]
            if not frames:
                raise ValueError(f"{path}: no video frames")
            while len(frames) < self.num_frames:
                frames.append(frames[-1])
            pixels.append(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
            source = audio[index] if audio is not None and audio[index] is not None else path
            with av.open(str(source)) as container:
                samples = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
            chunks = np.array_split(samples.astype(np.float32), self.num_features * self.num_steps)
            energies = np.array([np.abs(chunk).mean() for chunk in chunks], dtype=np.float32)
            features.append(energies.reshape(self.num_features, self.num_steps))
        return {
            "pixel_values_videos": torch.from_numpy(np.stack(pixels)),
            "input_features": torch.from_numpy(np.stack(features)),
            "video_mask": torch.ones(len(videos), self.num_frames, dtype=torch.bool),
            "audio_mask": torch.ones(len(videos), self.num_steps, dtype=torch.bool),
        }

    def to_json_string(self) -> str:
        return json.dumps(vars(self))

    def save_pretrained(self, directory) -> None:
        Path(directory, "processor_config.json").write_text(self.to_json_string())
