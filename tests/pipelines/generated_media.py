"""Small real media files written with PyAV for the pipeline tests and benchmark (h264 video, optional AAC audio)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    duration_s: float,
    fps: int = 5,
    size: tuple[int, int] = (64, 48),
    with_audio: bool = True,
    sampling_rate: int = 16000,
    frames: np.ndarray | None = None,
    silent_audio: bool = False,
) -> Path:
    """Write a video of `duration_s` seconds: h264 frames, plus a mono tone when `with_audio`.

    The container follows the suffix: `.mp4` gets AAC audio (FFmpeg's fast AAC coder), `.mkv` 16-bit PCM, which
    encodes about 30x faster and keeps minute-long test videos cheap.

    Frames are a moving gradient of `size` = (width, height) pixels at `fps` frames/s, or the given `frames`
    `(T, H, W, 3)` uint8 (repeated cyclically to fill the duration). Keyframes every second keep seeking cheap.
    `silent_audio`: the audio track holds exact zeros, like RAVDESS's video-only files and muted screen recordings.
    """
    num_frames = int(round(duration_s * fps))
    with av.open(str(path), mode="w") as container:
        if frames is not None:
            height, width = frames.shape[1:3]
        else:
            width, height = size
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(fps), "keyint_min": str(fps)}
        audio = None
        if with_audio:
            if Path(path).suffix == ".mkv":
                audio = container.add_stream("pcm_s16le", rate=sampling_rate)
            else:
                audio = container.add_stream("aac", rate=sampling_rate)
                audio.options = {"aac_coder": "fast"}
            audio.layout = "mono"
        rows = np.arange(height, dtype=np.int32)[:, None]
        columns = np.arange(width, dtype=np.int32)[None, :]
        for index in range(num_frames):
            if frames is not None:
                image = frames[index % len(frames)]
            else:
                value = (rows * 3 + columns * 2 + index * 7) % 256
                image = np.stack([value, 255 - value, (value * 5) % 256], axis=-1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            total = int(round(duration_s * sampling_rate))
            block = sampling_rate // 2
            for start in range(0, total, block):
                times = np.arange(start, min(start + block, total)) / sampling_rate
                # A tone whose pitch drifts, so windows differ.
                samples = 0.3 * np.sin(2 * np.pi * (220.0 + 20.0 * times) * times)
                if silent_audio:
                    samples = np.zeros_like(samples)
                frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt", layout="mono")
                frame.sample_rate = sampling_rate
                frame.pts = start
                container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return path


def write_talking_clip(path: Path, duration_s: float = 3.2, actor: int = 5, emotion: str = "happy") -> Path:
    """A generated talking face (64x64, 20 fps) with its voice (16 kHz AAC) in an mp4, like a RAVDESS clip.

    Uses the synthetic corpus' renderer, so behaviour tests need no real media; the cartoon face is not one
    OpenCV's Haar cascade detects, so the processor falls back to centre crops (tests of real faces keep the
    RAVDESS samples).
    """
    from av_emotion.data.synthetic import SyntheticCorpusConfig, render_clip, write_clip

    config = SyntheticCorpusConfig(duration_s=duration_s)
    frames, audio = render_clip(emotion, actor, config=config)
    return write_clip(path, frames, audio, config.fps, config.sampling_rate)
