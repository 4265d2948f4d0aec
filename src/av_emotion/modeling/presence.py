"""The processor's per-clip presence flags, folded into the step masks every model reads.

`AVEmotionProcessor` returns `has_video` / `has_audio` `(B,)` bool (and `face_found` with face cropping) next to
the tensors and masks, so `model(**processor(paths=[...]))` must accept them, as a `transformers` model accepts
everything its processor returns. A False flag means the modality is absent from that clip: its mask row is
cleared, exactly what the processor already does to the mask, so passing the flags never changes a result
computed from the processor's own masks. `face_found` is information for the user (a centre crop was used);
no model reads it.

Everything here is tensor arithmetic without Python branches on values, so it traces and exports.
"""

from __future__ import annotations

import torch

# Keys that the processor returns for the user and that models accept without needing them.
PRESENCE_FLAGS = ("has_video", "has_audio", "face_found")


def fold_presence_flag(
    mask: torch.Tensor | None, present: torch.Tensor | None, values: torch.Tensor | None, time_axis: int, name: str
) -> torch.Tensor | None:
    """Clear the mask rows of clips whose presence flag is False.

    Args:
        mask: `(B, steps)` bool step mask, or None (all steps valid).
        present: `(B,)` bool flag (`has_video` / `has_audio`), or None (nothing to fold).
        values: the modality's input tensor, used for the mask shape when `mask` is None; None when the modality
            is not passed at all (then the flag has nothing to act on and is ignored).
        time_axis: axis of `values` that `mask` covers (1 for frames of `pixel_values_videos`, -1 for audio).
        name: the flag's name, for error messages.

    Returns:
        The mask (a new tensor when a flag was folded in), or None when both `mask` and `present` are None.
    """
    if present is None or values is None:
        return mask
    if present.ndim != 1 or present.shape[0] != values.shape[0]:
        raise ValueError(f"{name} must be (batch,) = ({values.shape[0]},) bool, got {tuple(present.shape)}")
    if mask is None:
        mask = torch.ones(values.shape[0], values.shape[time_axis], dtype=torch.bool, device=values.device)
    return mask.bool() & present.to(device=mask.device, dtype=torch.bool)[:, None]


def fold_presence_flags(
    pixel_values_videos: torch.Tensor | None,
    input_features: torch.Tensor | None,
    video_mask: torch.Tensor | None,
    audio_mask: torch.Tensor | None,
    has_video: torch.Tensor | None,
    has_audio: torch.Tensor | None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Return `(video_mask, audio_mask)` with `has_video` / `has_audio` folded in (see `fold_presence_flag`)."""
    video_mask = fold_presence_flag(video_mask, has_video, pixel_values_videos, 1, "has_video")
    audio_mask = fold_presence_flag(audio_mask, has_audio, input_features, -1, "has_audio")
    return video_mask, audio_mask


def check_encoder_outputs(
    modality: str,
    raw: torch.Tensor | None,
    raw_mask: torch.Tensor | None,
    outputs: torch.Tensor | None,
    outputs_mask: torch.Tensor | None,
) -> None:
    """Refuse a precomputed `{modality}_encoder_outputs` passed beside that modality's raw input or mask.

    Precomputed encoder outputs (the recipes' feature cache) replace the raw input; a `{modality}_encoder_mask`
    without the outputs it describes is refused too.
    """
    raw_name = "pixel_values_videos" if modality == "video" else "input_features"
    if outputs is None and outputs_mask is not None:
        raise ValueError(f"{modality}_encoder_mask was passed without {modality}_encoder_outputs")
    if outputs is not None and (raw is not None or raw_mask is not None):
        raise ValueError(
            f"pass either {raw_name} (with {modality}_mask) or {modality}_encoder_outputs (with "
            f"{modality}_encoder_mask), not both: the encoder outputs replace the {modality} input"
        )
