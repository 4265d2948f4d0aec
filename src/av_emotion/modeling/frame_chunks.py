"""Run a per-frame encoder over a CPU batch in chunks that fit the caches, at inference only.

A frame encoder at its paper input size (AVT-CA's EfficientFace stem on 224x224 faces) is bound by memory
bandwidth on a CPU once its activations outgrow the caches: per frame, a call on 120 frames (a batch of 8 clips of
15 frames) cost 2.3x a call on 15 (`benchmarks/pipeline.py`, 2-core Xeon, one thread), so batching clips made the
pipeline slower than batch 1. PyTorch also picks its kernels by batch size: at 15 frames the depthwise convolutions
take its direct kernel, at 16 and more oneDNN's, slower here. Cut into chunks of about one clip's pixels, the batch
costs the encoder what its clips cost one by one, and the rest of the model still runs batched. The frames are
encoded independently in eval mode (batch norm uses its running statistics), so the result equals the single call
up to float summation order.

Chunking is a Python loop over a data-dependent count, so it is skipped where the forward is traced, compiled or
exported (the graph then holds the single call), on accelerators (which want the whole batch) and in training
(batch norm's batch statistics must see the whole batch).
"""

from __future__ import annotations

import torch

__all__ = ["encode_frames"]


def _is_captured() -> bool:
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


def encode_frames(encoder: torch.nn.Module, frames: torch.Tensor, chunk_pixels: int) -> torch.Tensor:
    """`encoder(frames)` for `(N, C, H, W)` frames, in chunks of at most `chunk_pixels // (H * W)` frames on CPU.

    Args:
        encoder: A module that maps each frame independently (in eval mode), `(N, ...) -> (N, ...)`.
        frames: `(N, C, H, W)`.
        chunk_pixels: Pixels (frames x H x W) per encoder call on CPU at inference; 0 or less: one call.
    """
    height, width = frames.shape[-2:]
    per_chunk = max(1, chunk_pixels // max(1, height * width)) if chunk_pixels > 0 else frames.shape[0]
    if per_chunk >= frames.shape[0] or encoder.training or frames.device.type != "cpu" or _is_captured():
        return encoder(frames)
    return torch.cat([encoder(chunk) for chunk in frames.split(per_chunk)])
