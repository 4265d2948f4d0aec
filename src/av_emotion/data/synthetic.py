"""Synthetic audio-video emotion corpus (module docstring completed with the renderer)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# AAC-LC codes audio in frames of exactly 1024 samples (ISO/IEC 14496-3); FFmpeg's native `aac` encoder
# rejects any other frame size except for the last one.
AAC_FRAME_SIZE = 1024


def write_clip(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    audio: np.ndarray,
    fps: float,
    sampling_rate: int,
    *,
    crf: int = 18,
    audio_bit_rate: int = 64_000,
) -> Path:
    """Write RGB frames and a mono waveform to an mp4 file (h264 yuv420p + AAC) with PyAV.

    Args:
        path: output file; its parent folder must exist. The container is mp4 whatever the suffix.
        frames: uint8 array (T, H, W, 3), RGB. Odd H or W are padded by one replicated row/column,
            because yuv420p subsamples chroma by 2 and libx264 needs even sizes.
        audio: float array (samples,), mono, values in [-1, 1] (clipped there), at `sampling_rate`.
        fps: video frame rate in frames per second; the video lasts T / fps seconds.
        sampling_rate: audio rate in Hz (one AAC supports: 8000 ... 96000, e.g. 16000).
        crf: libx264 constant rate factor (0 lossless ... 51 worst); 18 is visually near lossless.
        audio_bit_rate: AAC bit rate in bits per second.

    Returns:
        The path written.

    The AAC encoder's priming delay is recorded in the mp4 edit list, so decoders (PyAV included)
    return the first sample at time 0; the stream's duration is the exact number of samples, but
    decoders may return up to one AAC frame (1024 samples) of padding after it: trim decoded audio to
    `stream.duration * stream.time_base` seconds.
    """
    path = Path(path)
    frames = np.asarray(frames)
    audio = np.asarray(audio)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"{path}: frames must have shape (T, H, W, 3) with T >= 1, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(
            f"{path}: frames must be uint8 RGB, got {frames.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"{path}: audio must be a non-empty mono waveform of shape (samples,), got {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: audio contains NaN or infinite samples")
    if not fps > 0:
        raise ValueError(f"{path}: fps must be positive, got {fps}")
    if int(sampling_rate) != sampling_rate or sampling_rate <= 0:
        raise ValueError(f"{path}: sampling_rate must be a positive integer in Hz, got {sampling_rate}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist; create it first")

    # Pad odd sizes by replicating the last row / column (yuv420p needs even width and height).
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    audio = np.clip(audio.astype(np.float32), -1.0, 1.0)
    rate = Fraction(fps).limit_denominator(1001)

    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        # The muxer replaces the stream's time base when it writes the header, so frames keep their own.
        frame_time_base = 1 / rate
        video.time_base = frame_time_base
        # One key frame a second keeps seeking cheap; one thread because corpora are written one clip per
        # worker process; no B-frames so that packets come out in presentation order.
        video.codec_context.gop_size = max(1, round(float(rate)))
        video.codec_context.max_b_frames = 0
        video.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}

        sound = container.add_stream("aac", rate=int(sampling_rate))
        sound.layout = "mono"
        sound.bit_rate = audio_bit_rate

        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            frame.time_base = frame_time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))

        for start in range(0, audio.size, AAC_FRAME_SIZE):
            chunk = audio[start : start + AAC_FRAME_SIZE]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = int(sampling_rate)
            frame.pts = start
            frame.time_base = Fraction(1, int(sampling_rate))
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path
