"""Collator: from dataset rows to a model batch, through the model's processor or by padding.

Two kinds of rows reach it, matching the two preprocessing modes of the recipes:

- rows already processed by `datasets.map` (they hold `pixel_values_videos`, `input_features`, masks):
  the collator pads them to the longest clip of the batch and stacks them;
- raw rows (`video` path, optional separate `audio` path, label): the collator runs the processor on the
  batch ("on the fly"), which keeps nothing on disk and lets a processor that samples at random give
  fresh clips every epoch.

Either way the model receives `pixel_values_videos` (B, T, C, H, W), `input_features` (B, F, frames),
`video_mask` (B, T) and `audio_mask` (B, frames) as bool, and `labels` ((B,) int64 class indices, or
(B, D) float targets for regression).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

logger = logging.getLogger(__name__)

# Per-example model inputs, the axis along which clips of different lengths are padded, and the mask that
# marks the valid steps of that axis.
PADDED_INPUTS: dict[str, tuple[int, str | None]] = {
    "pixel_values_videos": (0, "video_mask"),  # (T, C, H, W): pad T
    "input_features": (-1, "audio_mask"),  # (F, frames): pad frames
    "input_values": (-1, "audio_mask"),  # (samples,): pad samples
}
MASKS: tuple[str, ...] = ("video_mask", "audio_mask")
# Precomputed outputs of frozen encoders and their per-step masks (the recipes' feature cache,
# `av_emotion.training.feature_cache`): the same shape for every clip, stacked as they are.
ENCODER_OUTPUT_INPUTS: tuple[str, ...] = (
    "video_encoder_outputs",
    "video_encoder_outputs_flipped",  # the outputs of the flipped clip, for `augmentation.video_flip_prob`
    "video_encoder_mask",
    "audio_encoder_outputs",
    "audio_encoder_mask",
)
# What `AVEmotionCollator(drop_modality=...)` leaves out: the inputs, mask and presence flag of one modality.
DROPPED_INPUTS: dict[str, tuple[str, ...]] = {
    "audio": (
        "input_features",
        "input_values",
        "audio_mask",
        "has_audio",
        "audio_encoder_outputs",
        "audio_encoder_mask",
    ),
    "video": (
        "pixel_values_videos",
        "video_mask",
        "has_video",
        "video_encoder_outputs",
        "video_encoder_outputs_flipped",
        "video_encoder_mask",
    ),
}


def media_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this clip cannot be decoded" (the processor's `MediaError` when available)."""
    try:
        from av_emotion.processing import MediaError

        return (MediaError,)
    except ImportError:  # pragma: no cover - the processing package always ships MediaError
        return (OSError, ValueError)


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(np.asarray(value))


def pad_and_stack(
    tensors: Sequence[torch.Tensor], axis: int, value: float | bool = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad `tensors` along `axis` to the longest and stack them.

    Returns:
        `(stacked, lengths)`: stacked of shape (B, *shape with the padded axis at its max), and the
        original length of each along `axis` (B,).
    """
    axis = axis % tensors[0].dim()
    lengths = torch.tensor([tensor.shape[axis] for tensor in tensors])
    longest = int(lengths.max())
    padded = []
    for tensor in tensors:
        missing = longest - tensor.shape[axis]
        if missing:
            pad_shape = list(tensor.shape)
            pad_shape[axis] = missing
            tensor = torch.cat([tensor, torch.full(pad_shape, value, dtype=tensor.dtype)], dim=axis)
        padded.append(tensor)
    return torch.stack(padded), lengths


def _unflatten(example: dict[str, Any]) -> dict[str, Any]:
    """Give arrays stored flat beside a `<name>_shape` column (the recipes' `map` cache) their shape back."""
    shapes = {key[: -len("_shape")]: value for key, value in example.items() if key.endswith("_shape")}
    if not shapes:
        return example
    restored = {key: value for key, value in example.items() if not key.endswith("_shape")}
    for key, shape in shapes.items():
        if key in restored and restored[key] is not None:
            restored[key] = _as_tensor(restored[key]).reshape([int(size) for size in shape])
    return restored


def pad_processed(
    examples: Sequence[dict[str, Any]], *, label_key: str = "labels", label_column: str = "label"
) -> dict[str, torch.Tensor]:
    """Pad and stack rows that already hold processed model inputs (see `PADDED_INPUTS`, `ENCODER_OUTPUT_INPUTS`).

    Arrays may come flat with a `<name>_shape` entry (as the recipes' preprocessing cache stores them). The
    labels come from `label_key`, or from the builders' `label_column` when the rows have no `label_key`; either
    way the batch holds them as `labels`, the name every model's `forward` (and `transformers.Trainer`) reads.
    """
    examples = [_unflatten(example) for example in examples]
    batch: dict[str, torch.Tensor] = {}
    for key, (axis, mask_key) in PADDED_INPUTS.items():
        if key not in examples[0] or examples[0][key] is None:
            continue
        stacked, lengths = pad_and_stack([_as_tensor(example[key]) for example in examples], axis)
        batch[key] = stacked
        if mask_key is None:
            continue
        if mask_key in examples[0] and examples[0][mask_key] is not None:
            masks, _ = pad_and_stack([_as_tensor(example[mask_key]).bool() for example in examples], -1, False)
        else:
            steps = stacked.shape[1 + (axis % (stacked.dim() - 1))]
            masks = torch.arange(steps)[None, :] < lengths[:, None]
        batch[mask_key] = masks
    for key in ENCODER_OUTPUT_INPUTS:
        if key in examples[0] and examples[0][key] is not None:
            batch[key] = torch.stack([_as_tensor(example[key]) for example in examples])
    source = label_key if label_key in examples[0] else label_column
    if source in examples[0] and examples[0][source] is not None:
        batch["labels"] = _as_tensor([example[source] for example in examples])
    return batch


@dataclass
class AVEmotionCollator:
    """Build model batches from dataset rows (processed rows are padded; raw rows go through `processor`).

    Args:
        processor: The model's `AVEmotionProcessor` (needed for raw rows).
        label_column: Column of the class index (classification).
        target_columns: Columns of the regression targets; when set, labels are (B, D) float.
        on_media_error: For raw rows: a clip that fails to decode is left out of its batch and logged
            (`"skip"`, listed in `skipped`) or raises (`"raise"`). A batch with no usable clip always raises.
        drop_modality: `"audio"` or `"video"`: leave that modality's inputs and mask out of every batch, so
            the model runs its other branch alone (single-modality baselines); None keeps both.
    """

    processor: Any = None
    label_column: str = "label"
    target_columns: Sequence[str] | None = None
    on_media_error: Literal["skip", "raise"] = "skip"
    drop_modality: Literal["audio", "video"] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.drop_modality not in (None, *DROPPED_INPUTS):
            raise ValueError(f"drop_modality must be None, 'audio' or 'video', not {self.drop_modality!r}")

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate one batch (see the class docstring)."""
        if not examples:
            raise ValueError("cannot collate an empty batch")
        if any(key in examples[0] for key in (*PADDED_INPUTS, *ENCODER_OUTPUT_INPUTS)):
            batch = pad_processed(examples, label_column=self.label_column)
        else:
            batch = self.process(examples)
        if self.drop_modality is not None:
            for key in DROPPED_INPUTS[self.drop_modality]:
                batch.pop(key, None)
        return batch

    def labels_of(self, examples: Sequence[dict[str, Any]]) -> torch.Tensor | None:
        """Labels of raw rows: (B,) int64, or (B, D) float32 for regression targets."""
        if self.target_columns:
            if not all(column in examples[0] for column in self.target_columns):
                return None
            values = [[example[column] for column in self.target_columns] for example in examples]
            # Per-sub-clip targets (lists, e.g. Aff-Wild2 windows) give (B, L, D); scalars give (B, D).
            return (
                torch.tensor(values, dtype=torch.float32).transpose(1, 2)
                if _is_sequence(values[0][0])
                else (torch.tensor(values, dtype=torch.float32))
            )
        if self.label_column not in examples[0]:
            return None
        return torch.tensor([int(example[self.label_column]) for example in examples], dtype=torch.int64)

    def process(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Run the processor on raw rows (`video` path, optional `audio` path), skipping undecodable clips."""
        if self.processor is None:
            raise ValueError("these rows hold media paths; give the collator the model's processor to decode them")
        errors = media_error_types()
        try:
            return self._process(examples)
        except errors:
            if self.on_media_error == "raise" or len(examples) == 1:
                raise
        # Find the clips that fail, one by one, and collate the rest.
        usable = []
        for example in examples:
            try:
                self._process([example])
                usable.append(example)
            except errors as error:
                logger.warning("skipping %s: %s", example.get("video"), error)
                self.skipped.append((str(example.get("video")), str(error)))
        if not usable:
            raise RuntimeError(f"no clip of this batch could be decoded: {self.skipped[-len(examples) :]}")
        return self._process(usable)

    def _process(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        outputs = process_clips(self.processor, examples)
        labels = self.labels_of(examples)
        if labels is not None:
            outputs["labels"] = labels
        return outputs


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (hasattr(value, "ndim") and value.ndim > 0)


def process_clips(processor: Any, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Run `processor` on raw rows and return its tensors (without labels).

    Each row has `video` (path) and optionally `audio`: a separate audio file (CREMA-D's WAV), used instead
    of the video's own track; None means the video's track. A row with `video` None and an `audio` file is an
    audio-only clip (RAVDESS `03-*` speech): it gets an all-False `video_mask` and `has_video=False`. Separate
    audio goes through `processor.load_clip` (the same clip window and sampling rate as the video) and
    `process_clips`.
    """
    videos = [example["video"] for example in examples]
    audio = [example.get("audio") for example in examples]
    for example, video_path, audio_path in zip(examples, videos, audio):
        if video_path is None and audio_path is None:
            raise ValueError(f"row {example.get('clip_id', example)!r} has neither a video nor an audio file")
    if any(example.get("start_s") is not None for example in examples) and hasattr(processor, "load_clip"):
        # Rows that are windows of a longer video (Aff-Wild2): decode each row's [start_s, end_s).
        clips = [
            processor.load_clip(example["video"], start_s=example.get("start_s"), end_s=example.get("end_s"))
            for example in examples
        ]
        features = processor.process_clips(clips, return_tensors="pt")
    elif any(path is not None for path in audio) and hasattr(processor, "load_clip"):
        clips = []
        for video_path, audio_path in zip(videos, audio):
            if video_path is None:
                clips.append(processor.load_clip(audio_path, allow_missing_video=True))
                continue
            clip = processor.load_clip(video_path, allow_missing_audio=audio_path is not None)
            if audio_path is not None:
                sound = processor.load_clip(audio_path, allow_missing_video=True)
                clip = dataclasses.replace(
                    clip, audio=sound.audio, sampling_rate=sound.sampling_rate, has_audio=sound.has_audio
                )
            clips.append(clip)
        features = processor.process_clips(
            clips, return_tensors="pt", allow_missing_video=any(path is None for path in videos)
        )
    elif any(path is not None for path in audio):
        features = processor(videos=videos, audio=audio, return_tensors="pt")
    else:
        features = processor(videos=videos, return_tensors="pt")
    return {key: value for key, value in features.items() if isinstance(value, torch.Tensor)}
