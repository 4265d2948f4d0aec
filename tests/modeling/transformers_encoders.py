"""Tiny random transformers checkpoints written locally (no network): a ViT and a wav2vec2, with their processors."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    ViTConfig,
    ViTImageProcessor,
    ViTModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
)

# Deliberately unusual preprocessing, so a test sees it reach the processor.
VIT_MEAN, VIT_STD, VIT_SIZE = [0.45, 0.4, 0.35], [0.25, 0.24, 0.23], 32
W2V_RATE = 16000


def write_tiny_encoders(root: Path) -> tuple[Path, Path]:
    """Write `root/vit` and `root/wav2vec2` (model + preprocessing config); return their paths."""
    torch.manual_seed(0)
    vision, audio = root / "vit", root / "wav2vec2"
    ViTModel(
        ViTConfig(
            image_size=VIT_SIZE,
            patch_size=8,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).save_pretrained(vision)
    ViTImageProcessor(
        size={"height": VIT_SIZE, "width": VIT_SIZE}, image_mean=VIT_MEAN, image_std=VIT_STD
    ).save_pretrained(vision)
    Wav2Vec2Model(
        Wav2Vec2Config(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            conv_dim=(8, 8),
            conv_stride=(5, 4),
            conv_kernel=(10, 4),
            num_conv_pos_embeddings=4,
            num_conv_pos_embedding_groups=2,
            feat_extract_norm="layer",
        )
    ).save_pretrained(audio)
    Wav2Vec2FeatureExtractor(sampling_rate=W2V_RATE, do_normalize=True).save_pretrained(audio)
    return vision, audio


def write_tiny_videomae(root: Path, num_frames: int = 2) -> Path:
    """Write `root/videomae`: a 1-layer VideoMAE on `num_frames`-frame 32x32 clips."""
    from transformers import VideoMAEConfig, VideoMAEModel

    torch.manual_seed(0)
    path = root / "videomae"
    VideoMAEModel(
        VideoMAEConfig(
            image_size=VIT_SIZE,
            patch_size=8,
            num_frames=num_frames,
            tubelet_size=2,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).save_pretrained(path)
    return path
