"""Uploads for the demo tests: a good clip, and the bad ones the issue names (text renamed .mp4, 2 hours, 8K)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.pipelines.generated_media import write_video


def write_good_clip(path: Path) -> Path:
    """A 4-s h264 + AAC clip (moving gradient, drifting tone): two 3-s windows at the tiny model's 1.5-s stride."""
    return write_video(path, 4.0, fps=5, size=(64, 48))


def write_text_renamed_mp4(path: Path) -> Path:
    """A text file with an .mp4 name."""
    path.write_text("This is a shopping list, not a video.\neggs\nmilk\n", encoding="utf-8")
    return path


def write_two_hour_video(path: Path) -> Path:
    """A 2-hour mkv that costs nothing: two 16x16 frames, the second shown at 7200 s."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1)
        stream.options = {"preset": "ultrafast"}
        for pts in (0, 7200):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            frame.pts = pts
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_8k_video(path: Path) -> Path:
    """One black 7680x4320 frame (100 kB of h264; about 1 s to encode)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 7680, 4320, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.zeros((4320, 7680, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_video_with_silent_track(path: Path, duration_s: float = 4.0, sampling_rate: int = 16000) -> Path:
    """An mkv with h264 frames and a PCM audio track of zeros, like a recording with the microphone muted."""
    fps = 5
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = container.add_stream("pcm_s16le", rate=sampling_rate)
        audio.layout = "mono"
        for index in range(int(duration_s * fps)):
            image = np.full((48, 64, 3), (index * 9) % 256, dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, int(duration_s * sampling_rate)), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = sampling_rate, 0
        container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def write_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """A mono 16-bit wav of a 220 Hz tone: an audio-only upload."""
    samples = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
