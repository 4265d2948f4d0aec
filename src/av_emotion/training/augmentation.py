"""Training-time augmentation of processed batches, reproducible across resumes.

The random draws come from a generator seeded by (run seed, optimizer step, micro-batch), not from the
global RNG or data-loader workers, so a run resumed from a checkpoint applies exactly the augmentation an
uninterrupted run would have, whatever the number of workers.
"""

from __future__ import annotations

import torch

from av_emotion.training.config import AugmentationSection

# Feature-cache column: the frozen video encoder's outputs of the left-right flipped clip (`video_flip_prob`).
FLIPPED_VIDEO_OUTPUTS = "video_encoder_outputs_flipped"


def augmentation_generator(seed: int, epoch: int, micro_batch: int, process_index: int = 0) -> torch.Generator:
    """Make the CPU generator of one micro-batch, determined by the run seed, the epoch and its position.

    On several processes each one reads other clips at the same position, and `process_index` gives it draws of
    its own (process 0 keeps the one-process stream).
    """
    generator = torch.Generator()
    seed = (seed * 1_000_003 + epoch) * 1_000_033 + micro_batch
    if process_index:
        seed = seed * 1_000_037 + process_index
    generator.manual_seed(seed % 2**64)  # unchanged below 2**64, where manual_seed accepts it
    return generator


def is_active(section: AugmentationSection) -> bool:
    """Whether any augmentation is switched on."""
    return (
        section.video_flip_prob > 0
        or section.freq_mask_param > 0
        or section.time_mask_param > 0
        or section.audio_crop_frames > 0
    )


def augment_batch(
    batch: dict[str, torch.Tensor], section: AugmentationSection, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Return a copy of `batch` with the augmentations of `section` applied.

    - `pixel_values_videos` (B, T, C, H, W): each clip flipped left-right with `video_flip_prob`. A batch from the
      feature cache holds the frozen video encoder's outputs of both orientations instead
      (`video_encoder_outputs`, `video_encoder_outputs_flipped`): the same draw picks one per clip, so a cached run
      sees the flips a recomputing run sees.
    - `input_features` (B, F, frames): one band of up to `freq_mask_param` mel bins and one span of up to
      `time_mask_param` frames set to the clip's mean (SpecAugment, Park et al. 2019, with a mean fill so
      log-mel features are not pushed to an artificial floor).
    - `input_features` and `audio_mask`: with `audio_crop_frames`, a random window of that many frames per clip,
      starting within the clip's valid frames (clips no longer than the window are kept whole); applied before
      the masks above.
    """
    batch = dict(batch)
    crop = section.audio_crop_frames
    features = batch.get("input_features")
    if crop > 0 and features is not None and features.dim() == 3 and features.shape[-1] > crop:
        mask = batch.get("audio_mask")
        valid = mask.sum(dim=-1).tolist() if mask is not None else [features.shape[-1]] * features.shape[0]
        starts = [int(torch.randint(0, max(int(length) - crop, 0) + 1, (1,), generator=generator)) for length in valid]
        batch["input_features"] = torch.stack([clip[:, start : start + crop] for clip, start in zip(features, starts)])
        if mask is not None:
            batch["audio_mask"] = torch.stack([row[start : start + crop] for row, start in zip(mask, starts)])
    videos = batch.get("pixel_values_videos")
    flipped_outputs = batch.pop(FLIPPED_VIDEO_OUTPUTS, None)
    if videos is not None and section.video_flip_prob > 0:
        flip = torch.rand(videos.shape[0], generator=generator) < section.video_flip_prob
        if flip.any():
            videos = videos.clone()
            videos[flip.to(videos.device)] = videos[flip.to(videos.device)].flip(-1)
            batch["pixel_values_videos"] = videos
    elif flipped_outputs is not None and section.video_flip_prob > 0:
        outputs = batch["video_encoder_outputs"]
        flip = torch.rand(outputs.shape[0], generator=generator) < section.video_flip_prob
        flip = flip.to(outputs.device).reshape(-1, *([1] * (outputs.dim() - 1)))
        batch["video_encoder_outputs"] = torch.where(flip, flipped_outputs, outputs)
    features = batch.get("input_features")
    if features is not None and features.dim() == 3 and (section.freq_mask_param or section.time_mask_param):
        features = features.clone()
        size, bins, frames = features.shape
        for index in range(size):
            fill = features[index].mean()
            for param, axis_size, axis in ((section.freq_mask_param, bins, 0), (section.time_mask_param, frames, 1)):
                if param <= 0:
                    continue
                width = int(torch.randint(0, min(param, axis_size) + 1, (1,), generator=generator))
                start = int(torch.randint(0, axis_size - width + 1, (1,), generator=generator))
                if width:
                    if axis == 0:
                        features[index, start : start + width, :] = fill
                    else:
                        features[index, :, start : start + width] = fill
        batch["input_features"] = features
    return batch
