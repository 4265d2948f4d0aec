"""Tiny unusual media files written with PyAV, and byte-level forgeries of their headers, for the robustness suite.

Every video frame `k` is a flat grey of level `level(k)` and every audio track is a sine of known frequency, so a
test can tell which frame a decoder returned and compare decoded samples with the analytic signal. Files are a few
frames at a few dozen pixels so the whole catalogue writes in about a second.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Distinct grey levels before they repeat: frame k and frame k + LEVELS look the same.
LEVELS = 19


def level(index: int) -> int:
    """Grey level of frame `index` (steps of 12 stay distinct through lossy codecs and 4:2:0 chroma)."""
    return 16 + 12 * (index % LEVELS)


def frame_number(frame: np.ndarray) -> int:
    """Recover the index (modulo `LEVELS`) written by `write_media` from a decoded `(H, W, 3)` RGB frame."""
    return int(round((float(frame.mean()) - 16) / 12))


def sine(times: np.ndarray, frequency: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * times)).astype(np.float32)


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream: codec, rate, channel layout and the sine it carries (channel c scaled by 1 / (c + 1))."""

    codec: str = "aac"
    rate: int = 16000
    layout: str = "mono"
    frequency: float = 440.0
    duration_s: float | None = None  # default: the file's duration

    def channel_gains(self) -> np.ndarray:
        channels = av.AudioLayout(self.layout).nb_channels
        return 1.0 / (np.arange(channels) + 1.0)


@dataclass(frozen=True)
class VideoTrack:
    """One video stream: codec, pixel format, size `(height, width)`, and frame times (uniform or given)."""

    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    size: tuple[int, int] = (32, 48)
    fps: int = 10
    num_frames: int = 10
    # Explicit presentation times in milliseconds (variable frame rate); default k * 1000 / fps.
    pts_ms: Sequence[int] | None = None
    rotation: int | None = None
    options: dict[str, str] = field(default_factory=dict)


def write_media(
    path: Path,
    video: VideoTrack | None = None,
    audio: Sequence[AudioTrack] = (),
    duration_s: float | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write `path` (container from its suffix) with the given video track and audio tracks."""
    path = Path(path)
    container = av.open(str(path), mode="w", options=container_options or {})
    vstream = None
    if video is not None:
        vstream = container.add_stream(video.codec, rate=video.fps)
        if video.pts_ms is not None:
            # Millisecond timestamps in the encoder and the stream, so the given times survive unrounded.
            vstream.codec_context.time_base = Fraction(1, 1000)
            vstream.time_base = Fraction(1, 1000)
        vstream.height, vstream.width = video.size
        vstream.pix_fmt = video.pix_fmt
        if video.pix_fmt.startswith("gray") and video.codec == "libx264":
            # FFmpeg's gray is full range; say so in the stream, or decoders read it as limited-range luma.
            vstream.codec_context.color_range = av.video.reformatter.ColorRange.JPEG
        options = {"g": str(video.fps), "crf": "10", "preset": "ultrafast"} if video.codec == "libx264" else {}
        vstream.options = {**options, **video.options}
        if video.codec not in ("libx264", "png", "ffv1"):
            vstream.bit_rate = 1_000_000
        if video.rotation is not None:
            vstream.set_display_rotation(video.rotation)
    astreams = []
    for track in audio:
        stream = container.add_stream(track.codec, rate=track.rate)
        stream.layout = track.layout
        astreams.append((track, stream))
    if vstream is not None:
        times = video.pts_ms if video.pts_ms is not None else None
        for k in range(video.num_frames):
            image = np.full((video.size[0], video.size[1], 3), level(k), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(times[k]), Fraction(1, 1000)
            else:
                frame.pts, frame.time_base = k, Fraction(1, video.fps)
            for packet in vstream.encode(frame.reformat(format=video.pix_fmt)):
                container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
    for track, stream in astreams:
        length = track.duration_s if track.duration_s is not None else duration_s
        if length is None:
            raise ValueError("an audio track needs duration_s")
        total = int(round(length * track.rate))
        fmt = stream.codec_context.codec.audio_formats[0].name
        gains = track.channel_gains()
        chunk = 1024
        for lo in range(0, total, chunk):
            t = np.arange(lo, min(lo + chunk, total)) / track.rate
            planes = gains[:, None] * sine(t, track.frequency)[None, :]
            fmt_obj = av.AudioFormat(fmt)
            if fmt_obj.is_planar:
                data = planes
            else:
                data = planes.T.reshape(1, -1)
            if fmt.startswith("s16"):
                data = (data * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                data = (data * 2**31 * 0.999).astype(np.int32)
            else:
                data = data.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=track.layout)
            frame.sample_rate = track.rate
            frame.pts, frame.time_base = lo, Fraction(1, track.rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()
    return path


# --------------------------------------------------------------------------------------------------------------
# Byte-level forgeries
# --------------------------------------------------------------------------------------------------------------


def find_box(data: bytes, kind: bytes, start: int = 0) -> int:
    """Offset of the first ISO-BMFF box of type `kind` (offset of its 4-byte size field)."""
    index = data.find(kind, start)
    if index < 4:
        raise ValueError(f"no {kind!r} box")
    return index - 4


def forge_mp4_durations(data: bytes, seconds: float) -> bytes:
    """Rewrite the movie, track and media header durations (mvhd/tkhd/mdhd, version 0) to claim `seconds`."""
    out = bytearray(data)
    for kind, timescale_at, duration_at in ((b"mvhd", 20, 24), (b"mdhd", 20, 24)):
        start = 0
        while True:
            try:
                box = find_box(bytes(out), kind, start)
            except ValueError:
                break
            if out[box + 8] != 0:
                raise ValueError(f"{kind!r} is not version 0")
            timescale = struct.unpack(">I", out[box + timescale_at : box + timescale_at + 4])[0]
            out[box + duration_at : box + duration_at + 4] = struct.pack(">I", min(int(seconds * timescale), 2**32 - 1))
            start = box + 8
    start = 0
    movie_timescale = struct.unpack(">I", out[find_box(bytes(out), b"mvhd") + 20 :][:4])[0]
    while True:
        try:
            box = find_box(bytes(out), b"tkhd", start)
        except ValueError:
            break
        out[box + 28 : box + 32] = struct.pack(">I", min(int(seconds * movie_timescale), 2**32 - 1))
        start = box + 8
    return bytes(out)


def forge_wav_data_size(data: bytes, num_bytes: int) -> bytes:
    """Rewrite the RIFF and `data` chunk sizes of a PCM wav to claim `num_bytes` of samples."""
    out = bytearray(data)
    index = out.find(b"data")
    out[index + 4 : index + 8] = struct.pack("<I", num_bytes)
    out[4:8] = struct.pack("<I", min(num_bytes + index, 2**32 - 1))
    return bytes(out)


def y4m_header(width: int, height: int, fps: int = 25, frames: int = 0, colorspace: str = "420jpeg") -> bytes:
    """A YUV4MPEG2 stream header claiming `width` x `height`, followed by `frames` tiny (incomplete) frames."""
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C{colorspace}\n".encode()
    return header + b"FRAME\n" * frames
