"""Small media files written with PyAV (libx264 / aac / pcm / flac encoders ship in its wheel) for the tests.

Each video frame k is a flat grey of level `frame_level(k)`, so a test can read back which frame a decoder
returned; audio is a sine of known frequency, so a test can compare decoded samples with the analytic signal.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_level(index: int) -> int:
    """Grey level of frame `index` (distinct for 0..58, robust to h264 rounding)."""
    return 8 + 4 * (index % 60)


def frame_index(frame: np.ndarray) -> int:
    """Recover the frame index written by `write_media` from a decoded RGB frame."""
    return int(round((float(frame.mean()) - 8) / 4))


def sine(times: np.ndarray, frequency: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * times)).astype(np.float32)


def write_media(
    path: Path,
    duration_s: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (48, 64),
    sampling_rate: int = 48000,
    video: bool = True,
    audio: bool = True,
    channels: int = 1,
    gop: int | None = None,
    frequency: float = 440.0,
    audio_codec: str | None = None,
    faststart: bool = False,
    keyframes: set[int] | None = None,
) -> Path:
    """Write a file whose container follows `path`'s suffix (.mp4 h264+aac, .mkv, .wav pcm, .flac).

    `keyframes`: frame indices forced to be keyframes, with no others (irregular groups of pictures).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    # faststart puts the mp4 index first, as web-ready files do, so a cut file still opens.
    options = {"movflags": "faststart"} if faststart else {}
    container = av.open(str(path), mode="w", options=options)
    vstream = astream = None
    if video:
        vstream = container.add_stream({".avi": "mpeg4", ".webm": "libvpx-vp9"}.get(suffix, "libx264"), rate=fps)
        vstream.height, vstream.width = size
        vstream.pix_fmt = "yuv420p"
        interval = 100_000 if keyframes is not None else gop or fps
        if vstream.codec_context.name == "libx264":
            vstream.options = {"g": str(interval), "keyint_min": str(interval), "crf": "10", "sc_threshold": "0"}
        else:
            vstream.codec_context.gop_size = interval
            vstream.bit_rate = 2_000_000
    if audio:
        default_codecs = {".wav": "pcm_s16le", ".flac": "flac", ".avi": "libmp3lame", ".mp3": "libmp3lame"}
        codec = audio_codec or default_codecs.get(suffix, "libopus" if suffix == ".webm" else "aac")
        astream = container.add_stream(codec, rate=sampling_rate)
        astream.layout = "mono" if channels == 1 else "stereo"
    if vstream is not None:
        for k in range(int(round(duration_s * fps))):
            image = np.full((size[0], size[1], 3), frame_level(k), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            frame.time_base = Fraction(1, fps)
            if keyframes is not None and k in keyframes:
                frame.pict_type = av.video.frame.PictureType.I
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
    if astream is not None:
        total = int(round(duration_s * sampling_rate))
        chunk = 1024
        fmt = {"aac": "fltp", "pcm_s16le": "s16", "flac": "s16"}.get(astream.codec_context.name, "fltp")
        for lo in range(0, total, chunk):
            t = np.arange(lo, min(lo + chunk, total)) / sampling_rate
            mono = sine(t, frequency)
            planes = np.stack([mono * (1.0 if c == 0 else 0.5) for c in range(channels)])
            if fmt == "s16":
                data = (planes.T.reshape(1, -1) * 32767).astype(np.int16)
            else:
                data = planes.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=astream.layout.name)
            frame.sample_rate = sampling_rate
            frame.pts = lo
            frame.time_base = Fraction(1, sampling_rate)
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode(None):
            container.mux(packet)
    container.close()
    return path
