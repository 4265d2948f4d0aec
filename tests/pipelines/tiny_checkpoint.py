"""Tiny checkpoints (model + processor saved to a directory) for the pipeline and CLI tests and benchmark.

The model is a registered architecture built from `TINY_CONFIGS`; the processor is the "cpu_small" preset (face
crop, 16 kHz log-mel) resized to what the tiny model takes, with `clip_duration_s=None` so clips keep their own
length and batches really mix lengths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from av_emotion import ARCHITECTURES
from av_emotion.processing import AVEmotionProcessor
from tests.modeling.tiny_configs import TINY_CONFIGS

# The RAVDESS emotions (DESIGN.md section 3).
LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# Preferred architecture for the classification checkpoint; any registered one with a tiny config works.
PREFERRED_CLASSIFIER = "avt_ca"


def regression_model_types() -> list[str]:
    """Registered architectures that have a regression head and a tiny config."""
    return sorted(name for name, arch in ARCHITECTURES.items() if arch.regression_class and name in TINY_CONFIGS)


def _audio_settings(config: Any) -> dict[str, Any]:
    """Feature-extractor overrides giving the number of audio features the tiny model expects."""
    if hasattr(config, "num_mel_bins"):
        return {"feature_type": "log_mel", "n_mels": config.num_mel_bins}
    if hasattr(config, "num_audio_features"):
        return {"feature_type": "mfcc", "n_mfcc": config.num_audio_features, "n_mels": 32}
    if hasattr(config, "n_mels"):
        return {"feature_type": "log_mel", "n_mels": config.n_mels}
    raise AssertionError(f"{type(config).__name__}: say how many audio features it takes in tiny_checkpoint.py")


def tiny_processor(config: Any) -> AVEmotionProcessor:
    """The processor a tiny model of `config` reads (frame count, frame size, audio features from the config)."""
    size = getattr(config, "image_size", 16)
    # Mocanu et al. count frames as snippets x frames per snippet.
    frames = getattr(config, "num_frames", None) or config.num_snippets * config.frames_per_snippet
    return AVEmotionProcessor.from_preset(
        "cpu_small",
        num_frames=frames,
        size={"height": size, "width": size},
        clip_duration_s=None,
        **_audio_settings(config),
    )


def save_tiny_checkpoint(directory: Path, model_type: str | None = None, regression: bool = False) -> Path:
    """Save a randomly initialised tiny model and its processor to `directory`; return it."""
    if model_type is None:
        candidates = [name for name in ARCHITECTURES if name in TINY_CONFIGS]
        assert candidates, "no registered architecture has a tiny config"
        model_type = PREFERRED_CLASSIFIER if PREFERRED_CLASSIFIER in candidates else sorted(candidates)[0]
    architecture = ARCHITECTURES[model_type]
    kwargs = dict(TINY_CONFIGS[model_type])
    if not regression:
        kwargs.update(id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})
    config = architecture.config_class(**kwargs)
    head = architecture.regression_class if regression else architecture.classification_class
    model = head(config).eval()
    directory = Path(directory)
    model.save_pretrained(directory)
    tiny_processor(model.config).save_pretrained(directory)
    return directory
