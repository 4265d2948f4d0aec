"""Write tiny real media files (PyAV) with a corpus' names, for builder tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".flv": ("flv", "libmp3lame"),
    ".wav": (None, "pcm_s16le"),
    ".flac": (None, "flac"),
}


def write_clip(
    path: Path,
    *,
    video: bool = True,
    audio: bool = True,
    seconds: float = 0.4,
    fps: int = 10,
    size: int = 32,
    sample_rate: int | None = None,
    seed: int = 0,
    tone_hz: float = 440.0,
) -> Path:
    """Write a short clip: moving noise frames and a sine tone, with the codecs usual for the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    video_codec, audio_codec = _CODECS[path.suffix]
    # FLV carries MP3 only at 11.025/22.05/44.1 kHz; CREMA-D's WAVs are 16 kHz.
    sample_rate = sample_rate or (22050 if path.suffix == ".flv" else 16000)
    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        video_stream = audio_stream = None
        if video and video_codec is not None:
            video_stream = container.add_stream(video_codec, rate=fps)
            video_stream.width = video_stream.height = size
            video_stream.pix_fmt = "yuv420p"
        if audio:
            audio_stream = container.add_stream(audio_codec, rate=sample_rate)
            audio_stream.layout = "mono"
        if video_stream is not None:
            for index in range(int(seconds * fps)):
                pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                for packet in video_stream.encode(frame):
                    container.mux(packet)
            for packet in video_stream.encode():
                container.mux(packet)
        if audio_stream is not None:
            total = int(seconds * sample_rate)
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * np.arange(total) / sample_rate)).astype(np.float32)
            chunk = 1024
            sample_format = audio_stream.codec_context.codec.audio_formats[0].name
            for start in range(0, total, chunk):
                piece = tone[start : start + chunk]
                if sample_format.startswith("s16"):
                    data = (piece * 32767).astype(np.int16)[None, :]
                    frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
                else:
                    frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, sample_rate)
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


def write_small_corpus(root: Path, actors: int = 6) -> Path:
    """`actors` x 2 emotions (neutral, angry) x 2 repetitions of 1-s RAVDESS-named clips at 64x64."""
    for actor in range(1, actors + 1):
        for emotion in (1, 5):
            for repetition in (1, 2):
                name = f"01-01-{emotion:02d}-01-01-{repetition:02d}-{actor:02d}.mp4"
                write_clip(root / name, seed=actor * 100 + emotion * 10 + repetition, size=64, seconds=1.0)
    return root
