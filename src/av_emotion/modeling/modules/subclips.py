"""Cut each clip's own audio into sub-clips that cover the same time spans as its video sub-clips.

The processor samples a clip's video frames over the clip's own duration, so video sub-clip `l` of `L`
covers the fraction `[l / L, (l + 1) / L)` of that clip. A batch pads the audio of shorter clips to the
longest one; cutting the *padded* length into `L` parts would give a short clip audio sub-clips that cover
other time spans than its video sub-clips, and outputs that change with its batch-mates. Here the cut
follows each clip's own audio length (from its mask), with tensor index arithmetic only (no Python branch on
tensor values, so the forward stays traceable by `torch.export`).
"""

from __future__ import annotations

import torch


def audio_lengths(audio_mask: torch.Tensor | None, batch: int, frames: int, device: torch.device) -> torch.Tensor:
    """Each clip's audio length in frames, `(batch,)` int64: one past its last valid frame (0 when none).

    Padding comes at the end (the collator's layout); masked frames before the last valid one (a hole)
    count toward the length, so the time axis of the clip is kept, and are zeroed by the caller.
    `audio_mask` None: every clip has all `frames`.
    """
    if audio_mask is None:
        return torch.full((batch,), frames, dtype=torch.long, device=device)
    positions = torch.arange(1, frames + 1, device=audio_mask.device)
    return (audio_mask.to(torch.bool).long() * positions).amax(dim=-1)


def split_audio_into_subclips(
    input_features: torch.Tensor, audio_mask: torch.Tensor | None, num_subclips: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut `(B, n_mels, N)` features into `L = num_subclips` sub-clips per clip, following each clip's length.

    Sub-clip `l` of a clip with `n` valid frames is its frames `[floor(l n / L), floor((l + 1) n / L))`: every
    frame is used once and the spans match the video sub-clips (which split the clip's duration evenly). The
    segments are stored at a common width `W = ceil(N / L)`; a segment's frames past its own end are zero.

    Returns:
        segments `(B, L, n_mels, W)` with masked frames and frames past each segment zeroed;
        segment_lengths `(B, L)` int64, valid width of each segment (pass them to the encoder so it can ignore
        the rest); frame_mask `(B, L, W)` bool, True at the segment's frames that `audio_mask` marks valid.
    """
    batch, n_mels, frames = input_features.shape
    length = num_subclips
    # ceil(frames / length) with non-negative operands: ONNX's integer Div truncates toward zero, so the usual
    # `-(-a // b)` would export as floor instead of ceil for dynamic lengths
    width = (frames + length - 1) // length
    device = input_features.device
    clip_lengths = audio_lengths(audio_mask, batch, frames, device)
    boundaries = torch.div(
        clip_lengths[:, None] * torch.arange(length + 1, device=device)[None, :], length, rounding_mode="floor"
    )  # (B, L + 1)
    starts, segment_lengths = boundaries[:, :-1], boundaries[:, 1:] - boundaries[:, :-1]
    offsets = torch.arange(width, device=device)
    inside = offsets[None, None, :] < segment_lengths[:, :, None]  # (B, L, W)
    index = (starts[:, :, None] + offsets[None, None, :]).clamp(max=max(frames - 1, 0))  # (B, L, W)
    flat_index = index.reshape(batch, 1, length * width)
    segments = input_features.gather(2, flat_index.expand(batch, n_mels, length * width))
    frame_mask = inside
    if audio_mask is not None:
        frame_mask = inside & audio_mask.to(torch.bool).gather(1, flat_index[:, 0]).reshape(batch, length, width)
    segments = segments.reshape(batch, n_mels, length, width).transpose(1, 2)
    segments = segments * frame_mask[:, :, None, :].to(segments.dtype)
    return segments, segment_lengths, frame_mask
