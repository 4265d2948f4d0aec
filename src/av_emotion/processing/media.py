"""Decode the frames and the audio track of a media file with PyAV, seeking instead of decoding everything.

What this module owns: opening a file (path or in-memory bytes), checking it against `MediaLimits`, sampling
`T` frames uniformly over a time range and decoding only what those frames need, and decoding the audio of the
same range resampled to one rate, mono. Every problem a user can cause (missing file, text renamed `.mp4`,
truncated download, a modality the model needs but the file lacks, a decompression bomb) is raised as a
`MediaError` whose message starts with the file name and says the fix; no FFmpeg traceback escapes.

Times are seconds on the file's own timeline (PyAV's `frame.time`, i.e. `pts * time_base`). Most files start
at 0; where a stream starts later (FLV video often starts at 27 ms) the gap is handled by taking the first frame
and by zero audio before the first sample.

PyAV is used because its wheel ships FFmpeg (no system FFmpeg needed, unlike torchcodec), so mp4/mkv/avi/flv/webm
and wav/flac/mp3 all decode on a fresh machine.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union, runtime_checkable

import av
import av.error
import numpy as np

MediaSource = Union[str, os.PathLike, bytes, bytearray, memoryview]
"""A file path, or the raw bytes of a file (decoded from memory, as the pipeline does for uploads)."""
FrameSize = Union[tuple[int, int], int, None]
"""`(height, width)` in pixels, an int for the shorter side (aspect kept), or None for the file's own size."""


@runtime_checkable
class FrameSizePolicy(Protocol):
    """Chooses the size of a read's frames from its first frame, for frame sizes that depend on the content.

    The face crop needs the face at the output's resolution, not the whole frame: a face filling a third of a 720p
    frame keeps a 112-pixel crop's detail in a frame converted at a third of the size: a ninth of the pixels to hold,
    stack and crop (converted about as fast as unscaled, at a whole fraction of the size). Per read (a clip, or one window of a long file) the first frame is converted at
    `probe_size(source_size)` and handed to `choose`, whose answer is the size of every frame of that read (the
    first frame converted again at it). A `probe_size` of None skips the probe: the frames keep their full size.
    What the choice was based on (the face crop's: the face found in the probe) comes back with the frames as
    `DecodedClip.frame_size_basis`, so it need not be found again.
    """

    def probe_size(self, source_size: tuple[int, int]) -> tuple[int, int] | None:
        """`(height, width)` to convert the first frame at for `choose`; None: no probe, full-size frames."""
        ...

    def choose(self, probe: np.ndarray, source_size: tuple[int, int]) -> tuple[FrameSize, Any]:
        """Size of the read's frames, from the first frame (`(h, w, 3)` uint8 RGB at `probe_size`), and its basis."""
        ...


__all__ = [
    "DecodedClip",
    "FrameSize",
    "FrameSizePolicy",
    "clip_window",
    "MediaError",
    "MediaInfo",
    "MediaLimits",
    "MediaSource",
    "LongClipWarning",
    "MIN_REMAINING_FRACTION",
    "TruncatedMediaWarning",
    "decode_clip",
    "iter_windows",
    "open_media",
    "primary_audio_stream",
    "primary_video_stream",
    "probe_media",
    "sample_frame_times",
    "scaled_frame_size",
    "set_decode_threads",
    "window_bounds",
]

# When the next frame we need lies farther ahead than this and no keyframe interval has been observed yet, seek
# instead of decoding forward. Our choice: 2 s is longer than the keyframe interval of nearly all camera and web
# encodes (RAVDESS has one keyframe every ~1 s), so decoding forward never costs more than one GOP.
_DEFAULT_SEEK_GAP_S = 2.0
# A stream that ends this much earlier than its header says, while we still need data there, is truncated.
# Our choice: 0.25 s (about 8 video frames or 12 AAC packets); legitimate end-of-stream jitter is far smaller.
_TRUNCATION_TOLERANCE_S = 0.25
# A seek on an audio stream must land at or before its target; landing later than this means the demuxer had no
# index for the target. Seen with Matroska: once video frames far into the file have been read, FFmpeg's index of
# the audio track starts there and a seek back lands on its first entry, minutes late; the audio before it would
# be silently replaced by zeros. Seeking through the video track (whose keyframes the Cues index) lands right.
# Our choice: 20 ms, less than one AAC frame at 48 kHz and more than Matroska's 1 ms timestamp rounding.
_SEEK_OVERSHOOT_S = 0.02
# Targets within this of a frame's start time are taken to be at it (float rounding of sampled times).
_TIME_EPS_S = 1e-6
# An audio frame whose timestamp is this far from where the previous frame's samples end starts a new run of samples,
# placed at its own time: files joined with `ffmpeg -f concat -c copy` have a gap (or an overlap) at each join, and
# counting samples from the first frame would shift everything after a join and end the track early. Our choice:
# 3 ms, above the 1-ms timestamp rounding of FLV and Matroska and below the smallest join gaps seen (about 6 ms).
_AUDIO_RESYNC_S = 0.003
# Audio is decoded from this long before a range's start and the samples before the start dropped: lapped-transform
# codecs (AAC, MP3, Vorbis, Opus) need the previous frame to reconstruct a frame's first samples, so decoding from a
# packet at the start (where a seek lands) would fade in the range's first ~20-60 ms. Our choice: 0.1 s, several frames
# of every common codec (AAC 1024 samples is 21-64 ms; Opus recommends 80 ms of pre-roll).
_AUDIO_PREROLL_S = 0.1
MIN_REMAINING_FRACTION = 0.5
"""Share of a time range a stream must still hold when its tail is lost (a cut download, a damaged end) to be used.

A stream whose data ends before its header says, inside the range being decoded, is used for what it holds when
at least this share of the range remains (frames are sampled within what remains, the lost audio is left out and
masked, with a `TruncatedMediaWarning`); with less, it is treated as missing over that range, and a range in which
no stream can serve is refused. Our choice: one half; less than half of an utterance is another clip, not a
damaged copy of this one.
"""

# FFmpeg's video decoder threads in this process (0: FFmpeg's own choice, about one per core). See `set_decode_threads`.
_decode_threads = 0


def set_decode_threads(count: int) -> None:
    """Set how many threads FFmpeg's video decoder uses in this process (0, the default: FFmpeg chooses).

    One process decoding alone gains from FFmpeg's frame and slice threads. Worker processes that each decode a
    different file already fill the cores, and the decoder's own threads only add hand-offs between them: the
    pipeline's workers set 1 (like `torch.set_num_threads(1)`). Frames are the same for any count.
    """
    global _decode_threads
    if count < 0:
        raise ValueError(f"set_decode_threads: count must be >= 0 (0 lets FFmpeg choose), got {count}")
    _decode_threads = count


class LongClipWarning(UserWarning):
    """A whole-clip decode was limited to a window of `max_clip_duration_s` seconds of a longer file.

    Memory then stays flat in the file's length; windowed prediction (`window_s`) covers all of it.
    """


class TruncatedMediaWarning(UserWarning):
    """A stream ends before its header says (a cut download, a damaged or badly joined tail); what remains is used.

    Silence it with `warnings.simplefilter("ignore", TruncatedMediaWarning)`.
    """


class MediaError(ValueError):
    """A media file cannot be decoded as asked. The message starts with the file and says the problem and the fix."""


@dataclass(frozen=True)
class MediaLimits:
    """Limits checked before anything is decoded, so a hostile or broken file cannot exhaust memory or time.

    Every limit can be raised for trusted inputs: `decode_clip(path, ..., limits=MediaLimits(max_pixels=...))`.

    Args:
        max_duration_s: Longest accepted file, in seconds. Our choice: 30 minutes, far beyond any emotion corpus
            clip, enough for lecture-length videos through `iter_windows`, and it bounds the audio a full-range
            `decode_clip` can allocate (30 min at 48 kHz mono float32 is 330 MB).
        max_pixels: Largest accepted frame, width * height. Our choice: 4096 * 2160 (DCI 4K); one RGB frame of
            that size is 27 MB, while a forged 65535 x 65535 header would ask for 12 GB per frame.
        max_streams: Most streams a container may declare. Our choice: 32 (real files have 1 to ~10: video,
            audio tracks, subtitles, data); thousands of streams are a known way to stall demuxers.
        max_audio_channels: Most channels an audio stream may declare. Our choice: 32 (7.1.4 is 12).
        max_file_bytes: Largest accepted file or bytes object. Our choice: 8 GiB, about an hour of 4K camera video.
    """

    max_duration_s: float = 1800.0
    max_pixels: int = 4096 * 2160
    max_streams: int = 32
    max_audio_channels: int = 32
    max_file_bytes: int = 8 * 1024**3


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds, read from its headers (plus a packet scan when the header has no duration).

    Attributes:
        path: The file as shown in messages (`"<bytes: N bytes>"` for in-memory input).
        format_name: FFmpeg's container name, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"`, `"flv"`, `"wav"`.
        start_s: Start of the file's timeline, seconds (usually 0).
        duration_s: Length of the file, seconds.
        num_streams: Streams the container declares (video, audio, subtitles, data).
        has_video: Whether there is a video stream (cover art in audio files does not count).
        has_audio: Whether there is an audio stream.
        width: Frame width in pixels (None without video).
        height: Frame height in pixels (None without video).
        fps: Average frame rate, frames per second (None without video or when unknown).
        video_codec: Decoder name, e.g. `"h264"` (None without video).
        audio_sampling_rate: Native audio rate, Hz (None without audio).
        audio_channels: Native audio channel count (None without audio).
        audio_codec: Decoder name, e.g. `"aac"` (None without audio).
    """

    path: str
    format_name: str
    start_s: float
    duration_s: float
    num_streams: int
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_sampling_rate: int | None = None
    audio_channels: int | None = None
    audio_codec: str | None = None

    @property
    def end_s(self) -> float:
        """End of the file's timeline, seconds."""
        return self.start_s + self.duration_s


@dataclass
class DecodedClip:
    """Frames and audio of one time range of a file.

    Attributes:
        frames: `(T, H, W, 3)` uint8 RGB, or None when the file has no video stream (`has_video=False`).
        frame_times: `(T,)` float64, the presentation time in seconds of each returned frame; the frame returned
            for target time `t` is the one on screen at `t` (the last frame starting at or before `t`). Empty
            without video.
        audio: `(samples,)` float32 mono in [-1, 1] at `sampling_rate`, exactly `round(duration_s * sampling_rate)`
            samples covering `[start_s, end_s)` (zeros where the stream has no samples, e.g. before it starts or in
            the gap at a join), fewer when the stream's tail is lost (see `truncated_streams`), or None when the
            file has no audio stream (`has_audio=False`).
        sampling_rate: Rate of `audio`, Hz.
        start_s: Start of the range, seconds on the file's timeline.
        end_s: End of the range (exclusive), seconds.
        has_video: Whether `frames` holds real frames.
        has_audio: Whether `audio` holds the real audio track.
        path: The file as shown in messages.
        source_size: `(height, width)` of the frames as a player shows them (display rotation applied), before any
            `frame_size` scaling (None without video).
        frame_size_basis: What a `FrameSizePolicy` chose the frames' size from (the face crop's: the face it found
            in the first frame, `faces.ProbedFace`); None without one.
        silent_audio: The file has an audio track but it is digital silence over this range, so `audio` is None
            and `has_audio` False (set by `AVEmotionProcessor`, whose `silence_threshold` decides).
        truncated_streams: Streams (`"video"`, `"audio"`) whose data ends inside this range before their header
            says, mapped to the time their data ends, seconds. Such a video's frames are sampled over
            `[start_s, that time)`; such an audio track is returned shorter (only the samples the file holds, so the
            processor masks the rest); a stream left with less than `MIN_REMAINING_FRACTION` of the range is
            returned as missing (`has_video` / `has_audio` False). A `TruncatedMediaWarning` says so.
    """

    frames: np.ndarray | None
    frame_times: np.ndarray
    audio: np.ndarray | None
    sampling_rate: int
    start_s: float
    end_s: float
    has_video: bool
    has_audio: bool
    path: str
    source_size: tuple[int, int] | None = None
    silent_audio: bool = False
    truncated_streams: dict[str, float] = field(default_factory=dict)
    frame_size_basis: Any = None

    @property
    def lost_streams(self) -> tuple[str, ...]:
        """Streams the file has but this range lacks because their tail is lost (see `truncated_streams`)."""
        present = {"video": self.has_video, "audio": self.has_audio}
        return tuple(name for name in self.truncated_streams if not present[name])

    @property
    def duration_s(self) -> float:
        """Length of the range, seconds."""
        return self.end_s - self.start_s

    @property
    def num_frames(self) -> int:
        """Number of frames `T` (0 without video)."""
        return 0 if self.frames is None else int(self.frames.shape[0])


def sample_frame_times(num_frames: int, start_s: float, end_s: float) -> np.ndarray:
    """Return the times of `num_frames` frames sampled uniformly over `[start_s, end_s)` (centres of segments).

    Frame `i` is sampled at `start_s + (i + 0.5) * (end_s - start_s) / num_frames`. Centres (rather than segment
    starts) keep the sampling symmetric, never sample exactly at a clip boundary (where a stream may not have
    begun yet), and give consecutive windows of `iter_windows` an even spacing. Our choice; none of the three
    papers specifies its frame sampling beyond "uniform".

    Returns:
        `(num_frames,)` float64 seconds, increasing.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if not end_s > start_s:
        raise ValueError(f"the time range must not be empty, got start_s={start_s} and end_s={end_s}")
    step = (end_s - start_s) / num_frames
    return start_s + (np.arange(num_frames, dtype=np.float64) + 0.5) * step


def window_bounds(
    duration_s: float, window_s: float, stride_s: float, start_s: float = 0.0
) -> list[tuple[float, float]]:
    """Return the `(start, end)` of each window `iter_windows` yields for a file of `duration_s` seconds.

    Windows start at `start_s, start_s + stride_s, ...` and all have length `window_s`; when the grid does not
    reach the end of the file, one last window `[end - window_s, end)` is added so every second is covered and
    every window has the same length (the model sees consistent inputs). A file shorter than `window_s` gives one
    window over the whole file. Our choice.
    """
    if window_s <= 0 or stride_s <= 0:
        raise ValueError(f"window_s and stride_s must be positive, got window_s={window_s}, stride_s={stride_s}")
    end = start_s + duration_s
    if duration_s <= window_s:
        return [(start_s, end)]
    bounds = []
    k = 0
    eps = 1e-9
    while start_s + k * stride_s + window_s <= end + eps:
        lo = start_s + k * stride_s
        bounds.append((lo, lo + window_s))
        k += 1
    if bounds[-1][1] < end - eps:
        bounds.append((end - window_s, end))
    return bounds


# ----------------------------------------------------------------------------------------------------------------
# Opening and probing
# ----------------------------------------------------------------------------------------------------------------


def _label(source: MediaSource) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes: {len(source)} bytes>"
    return str(os.fspath(source))


def _ffmpeg_reason(error: BaseException) -> str:
    # PyAV messages look like "[Errno 1094995529] Invalid data found when processing input: '/x.mp4'"; keep the
    # readable part and drop the errno and the repeated path.
    message = getattr(error, "strerror", None) or str(error)
    return str(message).strip()


def _open_container(source: MediaSource, limits: MediaLimits) -> tuple[av.container.InputContainer, str]:
    label = _label(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = len(source)
        if size == 0:
            raise MediaError(f"{label}: the data is empty; pass the bytes of a video or audio file")
        if size > limits.max_file_bytes:
            raise MediaError(
                f"{label}: {size} bytes exceeds MediaLimits.max_file_bytes={limits.max_file_bytes}; "
                "if the input is trusted, pass limits=MediaLimits(max_file_bytes=...)"
            )
        file: object = io.BytesIO(bytes(source))
    else:
        path = Path(os.fspath(source))
        if not path.exists():
            raise MediaError(f"{label}: no such file; check the path (relative paths start at {Path.cwd()})")
        if path.is_dir():
            raise MediaError(f"{label}: is a directory; pass a video or audio file inside it")
        size = path.stat().st_size
        if size == 0:
            raise MediaError(f"{label}: the file is empty (0 bytes); re-download or re-export it")
        if size > limits.max_file_bytes:
            raise MediaError(
                f"{label}: {size} bytes exceeds MediaLimits.max_file_bytes={limits.max_file_bytes}; "
                "if the file is trusted, pass limits=MediaLimits(max_file_bytes=...)"
            )
        file = str(path)
    try:
        container = av.open(file, mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as error:
        cut = _overrunning_mp4_box(source, size)
        if cut is not None:
            raise MediaError(_truncated_box_message(label, cut, size)) from None
        raise MediaError(
            f"{label}: not a media file FFmpeg can read, or truncated before its header ended "
            f"(FFmpeg: {_ffmpeg_reason(error)}); pass a video (mp4, mkv, avi, flv, webm) or audio (wav, flac, mp3) "
            "file, re-downloading it if it is incomplete"
        ) from None
    except av.error.EOFError:
        cut = _overrunning_mp4_box(source, size)
        if cut is not None:
            raise MediaError(_truncated_box_message(label, cut, size)) from None
        raise MediaError(
            f"{label}: ends before its first frame or sample (zero duration, or truncated inside its header); "
            "re-export or re-download the file"
        ) from None
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(
            f"{label}: could not be opened (FFmpeg: {_ffmpeg_reason(error)}): it is truncated inside its header, "
            "corrupt or not a media file; re-download or re-export it"
        ) from None
    if container.format.name.startswith("mov,mp4"):
        # FFmpeg opens an mp4 whose index ('moov') was cut short and reports whatever tracks it had read (a
        # missing audio track, no streams at all): the message would then blame the wrong thing.
        cut = _overrunning_mp4_box(source, size, stop_after_moov=True)
        if cut is not None and cut[0] == "moov":
            container.close()
            raise MediaError(_truncated_box_message(label, cut, size))
    return container, label


# A file has a handful of top-level boxes (a fragmented mp4 two per fragment); stop looking after this many.
_MAX_TOP_LEVEL_BOXES = 100_000


def _overrunning_mp4_box(source: MediaSource, size: int, stop_after_moov: bool = False) -> tuple[str, int] | None:
    """Return the first top-level ISO-BMFF box (type, end byte) that extends past the end of the file, if any.

    A file with every box whole but no `moov` gives `("moov", size)`. Reads only the 8- or 16-byte box headers;
    with `stop_after_moov`, stops at the first whole `moov` (a few reads even for a fragmented mp4). Returns None
    for files that are not ISO-BMFF (no `ftyp` first).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)

        def read(offset: int, count: int) -> bytes:
            return bytes(data[offset : offset + count])

        return _walk_mp4_boxes(read, size, stop_after_moov)
    with open(os.fspath(source), "rb") as handle:

        def read(offset: int, count: int) -> bytes:
            handle.seek(offset)
            return handle.read(count)

        return _walk_mp4_boxes(read, size, stop_after_moov)


def _walk_mp4_boxes(read: Callable[[int, int], bytes], size: int, stop_after_moov: bool) -> tuple[str, int] | None:
    if read(4, 4) != b"ftyp":
        return None
    offset = 0
    seen_moov = False
    for _ in range(_MAX_TOP_LEVEL_BOXES):
        if offset + 8 > size:
            # Every box is whole but there is no index: cut exactly between boxes, or a recording never finalised.
            return None if seen_moov else ("moov", size)
        header = read(offset, 16)
        box_size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
        if box_size == 1 and len(header) == 16:
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:  # the box runs to the end of the file
            return None
        if box_size < 8:
            return None  # not a box structure we can follow; FFmpeg's own checks apply
        if offset + box_size > size:
            return kind, offset + box_size
        seen_moov = seen_moov or kind == "moov"
        if seen_moov and stop_after_moov:
            return None
        offset += box_size
    return None


def _truncated_box_message(label: str, cut: tuple[str, int], size: int) -> str:
    kind, end = cut
    if end <= size:
        return (
            f"{label}: the file is truncated or was never finalised: it has no 'moov' box (the index of its "
            "streams), which recorders write last; re-download or re-copy it, or recover it with a tool such as "
            "untrunc"
        )
    index = "is incomplete" if kind == "moov" else "is missing (it comes after the media data in this file)"
    return (
        f"{label}: the file is truncated (an incomplete download or copy): its '{kind}' box ends at byte {end} but "
        f"the file stops at byte {size}, so the index of the streams ('moov') {index}; re-download or re-copy it"
    )


def primary_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """Return the video stream av_emotion decodes: the first one that is not cover art (None if there is none)."""
    for stream in container.streams.video:
        # Cover art in mp3/m4a files is a one-picture "video" stream; it is not video.
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        return stream
    return None


def primary_audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    """Return the audio stream av_emotion decodes: the first one (None if there is none)."""
    return container.streams.audio[0] if container.streams.audio else None


def _matroska_track_end_s(stream: av.stream.Stream) -> float | None:
    """End of a Matroska/WebM track from its `DURATION` tag (`"HH:MM:SS.nnnnnnnnn"`), or None without one.

    Matroska headers carry no per-track length; FFmpeg's and mkvmerge's muxers write it as this tag (FFmpeg writes
    the end time of the track's last packet). Without it a video track shorter than its audio track would look
    truncated.
    """
    for key, value in stream.metadata.items():
        if key.upper().split("-")[0] != "DURATION":
            continue
        parts = str(value).strip().split(":")
        try:
            hours, minutes, seconds = (float(part) for part in parts)
        except ValueError:
            return None
        end = hours * 3600 + minutes * 60 + seconds
        return end if math.isfinite(end) and end > 0 else None
    return None


def _stream_end_s(stream: av.stream.Stream) -> float | None:
    """End of `stream` on the file's timeline, seconds, or None when the file does not say.

    A stream duration of 0 or less means "unknown" to FFmpeg (e.g. an mp4 whose `mdhd` duration is the all-ones
    sentinel, or a fragmented mp4), not an empty stream: callers then fall back to the container or a packet scan.
    """
    tagged = _matroska_track_end_s(stream)
    if tagged is not None:
        return tagged
    if stream.duration is None or stream.duration <= 0 or stream.time_base is None:
        return None
    start = stream.start_time or 0
    return float((start + stream.duration) * stream.time_base)


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, time_s: float, label: str) -> None:
    """Seek `stream` to the keyframe at or before `time_s` (seconds).

    Seeks always name a stream: container-level seeks fail on some formats (FLV answers EPERM).
    """
    start = stream.start_time or 0
    offset = max(int(math.floor(time_s / stream.time_base)), start) if stream.time_base is not None else start
    try:
        container.seek(offset, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        try:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError as error:
            raise MediaError(
                f"{label}: the file cannot be seeked (FFmpeg: {_ffmpeg_reason(error)}); remux it into mp4, "
                "e.g. `ffmpeg -i IN -c copy OUT.mp4`"
            ) from None


def _scan_duration(
    container: av.container.InputContainer, streams: Sequence[av.stream.Stream], label: str
) -> tuple[float, float]:
    """Start and end of the packets of `streams`, for files whose header carries no duration (e.g. browser webm)."""
    start, end = math.inf, -math.inf
    for packet in container.demux(*streams):
        if packet.pts is None or packet.time_base is None:
            continue
        t0 = float(packet.pts * packet.time_base)
        t1 = t0 + float((packet.duration or 0) * packet.time_base)
        start, end = min(start, t0), max(end, t1)
    _seek(container, streams[0], 0.0, label)
    if not math.isfinite(start):
        return 0.0, 0.0
    return start, end


def _probe_container(container: av.container.InputContainer, label: str, limits: MediaLimits) -> MediaInfo:
    num_streams = len(container.streams)
    if num_streams > limits.max_streams:
        raise MediaError(
            f"{label}: declares {num_streams} streams, above MediaLimits.max_streams={limits.max_streams}; "
            "if the file is trusted, pass limits=MediaLimits(max_streams=...)"
        )
    video, audio = primary_video_stream(container), primary_audio_stream(container)
    if video is None and audio is None:
        raise MediaError(
            f"{label}: has neither a video nor an audio stream (streams: "
            f"{[s.type for s in container.streams] or 'none'}); pass a file with video and/or audio"
        )
    width = height = None
    fps = None
    if video is not None:
        width, height = int(video.codec_context.width or 0), int(video.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise MediaError(
                f"{label}: the video stream has no frame size ({width}x{height}); the header is corrupt, "
                "re-encode or re-download the file"
            )
        if width * height > limits.max_pixels:
            raise MediaError(
                f"{label}: frames are {width}x{height} = {width * height} pixels, above "
                f"MediaLimits.max_pixels={limits.max_pixels}; if the file is trusted, pass "
                "limits=MediaLimits(max_pixels=...), or downscale it first"
            )
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else None
    channels = None
    if audio is not None:
        channels = int(audio.codec_context.channels or 0)
        if channels > limits.max_audio_channels:
            raise MediaError(
                f"{label}: the audio stream declares {channels} channels, above "
                f"MediaLimits.max_audio_channels={limits.max_audio_channels}; if the file is trusted, pass "
                "limits=MediaLimits(max_audio_channels=...)"
            )
    start_s = float(container.start_time) / av.time_base if container.start_time is not None else 0.0
    if container.duration is not None and container.duration > 0:
        duration_s = float(container.duration) / av.time_base
    else:
        ends = [e for e in (_stream_end_s(s) for s in (video, audio) if s is not None) if e is not None]
        if ends:
            duration_s = max(ends) - start_s
        else:
            start_s, end_s = _scan_duration(container, [s for s in (video, audio) if s is not None], label)
            duration_s = end_s - start_s
    if not duration_s > 0:
        raise MediaError(
            f"{label}: has zero duration (no frames or samples); the file is empty or was cut at its start, "
            "re-export or re-download it"
        )
    if duration_s > limits.max_duration_s:
        raise MediaError(
            f"{label}: lasts {duration_s:.1f} s, above MediaLimits.max_duration_s={limits.max_duration_s:g}; "
            "if the file is trusted, pass limits=MediaLimits(max_duration_s=...), or cut it into parts"
        )
    return MediaInfo(
        path=label,
        format_name=container.format.name,
        start_s=start_s,
        duration_s=duration_s,
        num_streams=num_streams,
        has_video=video is not None,
        has_audio=audio is not None,
        width=width,
        height=height,
        fps=fps,
        video_codec=video.codec_context.name if video is not None else None,
        audio_sampling_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
        audio_channels=channels,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def _open_probed(source: MediaSource, limits: MediaLimits) -> tuple[av.container.InputContainer, MediaInfo]:
    """Open `source` and probe it against `limits`; the container is closed if the probe fails."""
    container, label = _open_container(source, limits)
    try:
        return container, _probe_container(container, label, limits)
    except BaseException:
        container.close()
        raise


@contextlib.contextmanager
def open_media(
    source: MediaSource, limits: MediaLimits | None = None
) -> Iterator[tuple[av.container.InputContainer, MediaInfo]]:
    """Open and probe `source` once: yield its PyAV container (at the start of the file) and its `MediaInfo`.

    For callers that read the file themselves after the checks `probe_media` makes (the corpus builders' peek
    decode); the container is closed on exit.

    Raises:
        MediaError: as `probe_media`.
    """
    container, info = _open_probed(source, limits or MediaLimits())
    with container:
        yield container, info


def probe_media(source: MediaSource, limits: MediaLimits | None = None) -> MediaInfo:
    """Read what `source` holds (streams, size, duration) and check it against `limits`, decoding nothing.

    Raises:
        MediaError: missing or empty file, not media, no audio or video stream, zero duration, or a limit exceeded.
    """
    with open_media(source, limits) as (_, info):
        return info


# ----------------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------------


class _StreamEnded(Exception):
    """A stream's data ended (or stopped decoding) before the times asked for; `end_s` is where it ended, if known."""

    def __init__(self, end_s: float | None, reason: str) -> None:
        super().__init__(reason)
        self.end_s = end_s
        self.reason = reason


@dataclass
class _FrameReader:
    """Decodes the frames shown at given times from one video stream, seeking only when it saves work.

    Decoding forward is cheaper than seeking when the next target lies within the current group of pictures
    (seeking would land on the same keyframe and decode the same frames again); seeking wins when a keyframe
    lies between the current position and the target. The reader learns the keyframe interval from the frames
    it decodes and seeks only when the gap to the next target exceeds it (or `_DEFAULT_SEEK_GAP_S` before any
    interval is known). Dense sampling thus decodes straight through; sparse sampling of a long file decodes
    about one GOP per frame.
    """

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    label: str
    end_of_stream_s: float
    # Longest interval seen between consecutive keyframes of one forward run, seconds.
    keyframe_interval_s: float | None = None

    # (height, width) of the frames as displayed (rotation applied), and of the arrays the current `read` returns;
    # both set from the first frame converted, so every frame of one read has the same size.
    display_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    # What a FrameSizePolicy chose the current read's size from (`DecodedClip.frame_size_basis`).
    basis: Any = None

    def _to_array(self, frame: av.VideoFrame, frame_size: FrameSize | FrameSizePolicy) -> np.ndarray:
        # Phone videos are often stored sideways with a display matrix saying how to turn them (PyAV's
        # `rotation`: degrees counter-clockwise); faces must reach the model upright, as a player shows them.
        turns = round((frame.rotation or 0) / 90) % 4
        if self.display_size is None:
            coded = (frame.height, frame.width)
            self.display_size = coded[::-1] if turns % 2 else coded
        if self.output_size is None:
            if isinstance(frame_size, FrameSizePolicy):
                probe_size = frame_size.probe_size(self.display_size)
                self.output_size = self.display_size
                if probe_size is not None:
                    probe = self._convert(frame, probe_size, turns)
                    chosen, self.basis = frame_size.choose(probe, self.display_size)
                    self.output_size = scaled_frame_size(self.display_size, chosen)
                    if self.output_size == tuple(probe_size):
                        return probe
            else:
                self.output_size = scaled_frame_size(self.display_size, frame_size)
        return self._convert(frame, self.output_size, turns)

    @staticmethod
    def _convert(frame: av.VideoFrame, size: tuple[int, int], turns: int) -> np.ndarray:
        """`frame` as `size` `(height, width)` RGB as displayed, turned upright by `turns` quarter turns."""
        height, width = size[::-1] if turns % 2 else size
        if (frame.height, frame.width) == (height, width):
            array = frame.to_ndarray(format="rgb24")
        else:
            # Scaling inside FFmpeg's converter costs less than converting at full size and resizing afterwards.
            # AREA is the right filter for downscaling (it averages, like an antialiased resize).
            array = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
        return np.ascontiguousarray(np.rot90(array, turns)) if turns else array

    def read(self, times: np.ndarray, frame_size: FrameSize | FrameSizePolicy) -> tuple[np.ndarray, np.ndarray]:
        """Frames shown at `times` (increasing seconds) as `(T, height, width, 3)` uint8, and their own times.

        `frame_size` applies to the frames as displayed: rotation metadata is applied first. A `FrameSizePolicy`
        chooses it from the first frame of this read.

        Raises:
            _StreamEnded: the frames end (or stop decoding) more than `_TRUNCATION_TOLERANCE_S` before the header
                says, before the last of `times`; its `end_s` is the end of the last frame decoded (None if none).
        """
        self.output_size = self.basis = None
        num = len(times)
        out: list[np.ndarray | None] = [None] * num
        out_times = np.empty(num, dtype=np.float64)
        index = 0
        fps = float(self.stream.average_rate or self.stream.guessed_rate or 25)
        # End of the latest frame decoded in this call, seconds: where the data is known to reach.
        decoded_end: float | None = None
        while index < num:
            _seek(self.container, self.stream, float(times[index]), self.label)
            # The seek landed on the keyframe before times[index]: seeking again makes sense only for later targets
            # (else irregular keyframe spacing could make the reader seek to the same place forever).
            seeked_index = index
            # The frame on screen so far (time, frame) and its RGB array once converted (each frame converts once).
            shown: tuple[float, av.VideoFrame] | None = None
            shown_array: np.ndarray | None = None
            last_keyframe: float | None = None
            reseek = False
            try:
                for frame in self.container.decode(self.stream):
                    if frame.time is not None:
                        t = float(frame.time)
                    else:  # no timestamp (some AVI): count frames
                        t = shown[0] + 1.0 / fps if shown is not None else float(times[index])
                    decoded_end = max(decoded_end or -math.inf, t + 1.0 / fps)
                    if frame.key_frame:
                        if last_keyframe is not None and t > last_keyframe:
                            self.keyframe_interval_s = max(self.keyframe_interval_s or 0.0, t - last_keyframe)
                        last_keyframe = t
                    if shown is None and times[index] < t - _TIME_EPS_S:
                        # The target precedes the first frame after the seek (e.g. video starting at 27 ms).
                        shown = (t, frame)
                    # Every target before this frame's time is shown by the previous frame.
                    while index < num and times[index] < t - _TIME_EPS_S:
                        if shown_array is None:
                            shown_array = self._to_array(shown[1], frame_size)
                        out[index], out_times[index] = shown_array, shown[0]
                        index += 1
                    if index >= num:
                        break
                    if shown is None or shown[1] is not frame:
                        shown, shown_array = (t, frame), None
                    gap = float(times[index]) - t
                    if index > seeked_index and gap > (self.keyframe_interval_s or _DEFAULT_SEEK_GAP_S):
                        # A keyframe lies between here and the next target: seeking skips decoding up to it.
                        reseek = True
                        break
            except av.error.FFmpegError as error:
                reached = shown[0] if shown is not None else float(times[index])
                raise _StreamEnded(
                    decoded_end,
                    f"the video stream is truncated or corrupt: decoding failed near {reached:.2f} s "
                    f"(FFmpeg: {_ffmpeg_reason(error)})",
                ) from None
            if reseek or index >= num:
                continue
            # End of stream: the last frame stays on screen until the end of the file.
            if shown is None:
                raise _StreamEnded(
                    decoded_end,
                    f"the video stream has no decodable frame at or after {float(times[index]):.2f} s; the file is "
                    "truncated or corrupt",
                )
            last_end = shown[0] + 1.0 / fps
            # The last target, not the next: the next may still fall within the last frame's duration.
            if float(times[-1]) >= last_end and last_end < self.end_of_stream_s - _TRUNCATION_TOLERANCE_S:
                raise _StreamEnded(
                    last_end,
                    f"the video stream is truncated: its frames end at {last_end:.2f} s but the header says "
                    f"{self.end_of_stream_s:.2f} s",
                )
            if shown_array is None:
                shown_array = self._to_array(shown[1], frame_size)
            while index < num:
                out[index], out_times[index] = shown_array, shown[0]
                index += 1
        return np.stack(out), out_times


def _read_audio(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    label: str,
    start_s: float,
    end_s: float,
    sampling_rate: int,
    end_of_stream_s: float,
    video_stream: av.video.stream.VideoStream | None = None,
) -> tuple[np.ndarray, float | None]:
    """Audio of `[start_s, end_s)` as float32 mono in [-1, 1], and where the data ends when the stream is truncated.

    Returns `(audio, data_end)`: `audio` has `round((end_s - start_s) * sampling_rate)` samples, each run of samples
    placed at its own timestamps (zeros in gaps, e.g. at the joins of concatenated files; see `_AUDIO_RESYNC_S`);
    `data_end` is None, or the time in seconds where the samples end when that is more than
    `_TRUNCATION_TOLERANCE_S` before both `end_s` and the stream's end in the header (a lost tail: the caller
    decides what to keep). A decoding error is taken as the end of the data.

    `video_stream`, when given, is the fallback for a seek on the audio stream that lands after `start_s` (see
    `_SEEK_OVERSHOOT_S`).
    """
    num_samples = int(round((end_s - start_s) * sampling_rate))
    stream_start = float((stream.start_time or 0) * stream.time_base) if stream.time_base is not None else 0.0
    seek_streams = [stream] if video_stream is None else [stream, video_stream]
    for attempt, seek_stream in enumerate(seek_streams):
        # Always seek: the same container may just have been read to its end for the video frames. Seek a pre-roll
        # early; the samples before `start_s` are dropped when the runs are placed.
        _seek(container, seek_stream, max(start_s - _AUDIO_PREROLL_S, stream_start), label)
        # Runs of contiguous samples: (time of the first input sample, resampled chunks). A new run starts where a
        # frame's timestamp leaves the previous frame's end by more than _AUDIO_RESYNC_S.
        runs: list[tuple[float, list[np.ndarray]]] = []
        resampler = None
        first_time: float | None = None
        expected_next: float | None = None
        decoded_end: float | None = None
        overshot = False
        try:
            for frame in container.decode(stream):
                frame_time = float(frame.time) if frame.time is not None else expected_next
                if frame_time is not None and frame_time >= end_s + 0.05:
                    break
                if first_time is None:
                    first_time = frame_time if frame_time is not None else stream_start
                    overshot = first_time > max(start_s, stream_start) + _SEEK_OVERSHOOT_S
                    if overshot and attempt + 1 < len(seek_streams):
                        break
                    frame_time = first_time
                if resampler is None or abs(frame_time - expected_next) > _AUDIO_RESYNC_S:
                    if resampler is not None:
                        runs[-1][1].extend(out.to_ndarray() for out in resampler.resample(None))
                    # Resample to the target rate but keep the channels: FFmpeg's stereo-to-mono matrix sums channels
                    # at -3 dB each (0.707 * (L + R)), which can leave [-1, 1]; we average the channels ourselves.
                    # The resampler's first output sample is aligned with its first input sample; placing a run by
                    # its first input frame's exact time (not the output pts, rounded to the new rate) keeps the
                    # error of the placement below half an output sample.
                    resampler = av.AudioResampler(format="fltp", rate=sampling_rate)
                    runs.append((frame_time, []))
                expected_next = frame_time + frame.samples / frame.sample_rate
                decoded_end = expected_next
                runs[-1][1].extend(out.to_ndarray() for out in resampler.resample(frame))
        except av.error.FFmpegError:
            # A packet cut short or corrupt: the data usable ends with the last frame decoded (checked below).
            pass
        if resampler is not None:
            with contextlib.suppress(av.error.FFmpegError):
                runs[-1][1].extend(out.to_ndarray() for out in resampler.resample(None))
        if not overshot:
            break
    result = np.zeros(num_samples, dtype=np.float32)
    available_end = stream_start if decoded_end is None else decoded_end
    for run_start, chunks in runs:
        if not chunks:
            continue
        mono = np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32)
        offset = int(round((run_start - start_s) * sampling_rate))
        src_lo = max(0, -offset)
        dst_lo = max(0, offset)
        count = max(0, min(num_samples - dst_lo, mono.shape[0] - src_lo))
        result[dst_lo : dst_lo + count] = mono[src_lo : src_lo + count]
    np.clip(result, -1.0, 1.0, out=result)
    needed_end = min(end_s, end_of_stream_s)
    if available_end < needed_end - _TRUNCATION_TOLERANCE_S and end_s > available_end:
        return result, max(available_end, start_s)
    return result, None


def _check_modalities(info: MediaInfo, allow_missing_audio: bool, allow_missing_video: bool) -> None:
    if not info.has_video and not allow_missing_video:
        raise MediaError(
            f"{info.path}: has no video stream (an audio-only {info.format_name} file); pass "
            "allow_missing_video=True to run the audio branch alone"
        )
    if not info.has_audio and not allow_missing_audio:
        raise MediaError(
            f"{info.path}: has no audio stream; pass allow_missing_audio=True to run the video branch alone"
        )


def _resolve_range(info: MediaInfo, start_s: float | None, end_s: float | None) -> tuple[float, float]:
    start = info.start_s if start_s is None else float(start_s)
    end = info.end_s if end_s is None else min(float(end_s), info.end_s)
    if start < info.start_s - 1e-6 or not end > start:
        raise MediaError(
            f"{info.path}: the range [{start_s}, {end_s}) s is empty or outside the file, which spans "
            f"[{info.start_s:.3f}, {info.end_s:.3f}) s; pass start_s < end_s inside it"
        )
    return start, end


@dataclass
class _OpenMedia:
    """One open file with its probe, reused across the windows of `iter_windows`."""

    container: av.container.InputContainer
    info: MediaInfo
    frame_reader: _FrameReader | None
    # Streams already reported by a TruncatedMediaWarning, and whether the ranges are windows of a long file.
    warned: set[str] = field(default_factory=set)
    windowed: bool = False

    @classmethod
    def open(cls, source: MediaSource, limits: MediaLimits) -> _OpenMedia:
        container, info = _open_probed(source, limits)
        video = primary_video_stream(container)
        reader = None
        if video is not None:
            # Frame-level threading in FFmpeg's decoder; "AUTO" picks slice or frame threads per codec.
            video.thread_type = "AUTO"
            if _decode_threads:
                video.thread_count = _decode_threads
            end = _stream_end_s(video)
            reader = _FrameReader(container, video, info.path, end if end is not None else info.end_s)
        return cls(container, info, reader)

    def decode(
        self,
        num_frames: int,
        sampling_rate: int,
        start_s: float,
        end_s: float,
        frame_size: FrameSize | FrameSizePolicy,
        decode_audio: bool,
    ) -> DecodedClip:
        """Decode one range; a stream whose tail is lost is used as far as it goes (see `MIN_REMAINING_FRACTION`).

        Raises:
            _NothingLeft: no stream asked for holds enough of the range.
        """
        info = self.info
        frames = None
        frame_times = np.empty(0, dtype=np.float64)
        source_size = basis = None
        truncated: dict[str, float] = {}
        reasons: dict[str, str] = {}
        headers: dict[str, float] = {}
        wanted: list[str] = []
        reader = self.frame_reader
        if reader is not None and num_frames > 0:
            wanted.append("video")
            headers["video"] = reader.end_of_stream_s
            targets = sample_frame_times(num_frames, start_s, end_s)
            try:
                frames, frame_times = reader.read(targets, frame_size)
            except _StreamEnded as ended:
                data_end = start_s if ended.end_s is None else min(max(ended.end_s, start_s), end_s)
                truncated["video"], reasons["video"] = data_end, ended.reason
                if _serves(start_s, data_end, end_s):
                    # Sample the T frames within what the stream holds, so every frame is a real one.
                    try:
                        frames, frame_times = reader.read(sample_frame_times(num_frames, start_s, data_end), frame_size)
                    except _StreamEnded:
                        frames = None
            if frames is not None:
                source_size, basis = reader.display_size, reader.basis
        audio = None
        audio_stream = primary_audio_stream(self.container)
        if audio_stream is not None and decode_audio:
            wanted.append("audio")
            end = _stream_end_s(audio_stream)
            headers["audio"] = end if end is not None else info.end_s
            audio, data_end = _read_audio(
                self.container,
                audio_stream,
                info.path,
                start_s,
                end_s,
                sampling_rate,
                headers["audio"],
                video_stream=reader.stream if reader is not None else None,
            )
            if data_end is not None:
                truncated["audio"] = data_end
                reasons["audio"] = (
                    f"the audio stream is truncated: its samples end at {data_end:.2f} s but the header says "
                    f"{headers['audio']:.2f} s"
                )
                # Keep only the samples the file holds: the processor masks the rest.
                audio = (
                    audio[: int(round((data_end - start_s) * sampling_rate))]
                    if _serves(start_s, data_end, end_s)
                    else None
                )
        if wanted and all(name in truncated and not _serves(start_s, truncated[name], end_s) for name in wanted):
            name = wanted[0]
            remains = max(truncated[name] - start_s, 0.0)
            raise _NothingLeft(
                f"{info.path}: {reasons[name]}, so only {remains:.2f} s of the {end_s - start_s:.2f} s asked for "
                f"({start_s:.2f}-{end_s:.2f} s) remain, less than MIN_REMAINING_FRACTION={MIN_REMAINING_FRACTION:g} "
                "of it; re-download or re-encode the file",
                reason=reasons[name],
            )
        self._warn_truncated(truncated, reasons, start_s, end_s)
        return DecodedClip(
            frames=frames,
            frame_times=frame_times,
            audio=audio,
            sampling_rate=int(sampling_rate),
            start_s=float(start_s),
            end_s=float(end_s),
            has_video=frames is not None,
            has_audio=audio is not None,
            path=info.path,
            source_size=source_size,
            frame_size_basis=basis,
            truncated_streams=truncated,
        )

    def _warn_truncated(self, truncated: dict[str, float], reasons: dict[str, str], start_s: float, end_s: float):
        """One `TruncatedMediaWarning` per stream and open file (the windows of a long file share one)."""
        for name, data_end in truncated.items():
            if name in self.warned:
                continue
            self.warned.add(name)
            if _serves(start_s, data_end, end_s):
                done = (
                    f"the frames are sampled over {start_s:.2f}-{data_end:.2f} s"
                    if name == "video"
                    else f"its {data_end - start_s:.2f} s are used and the rest is masked"
                )
            else:
                done = f"less than half of {start_s:.2f}-{end_s:.2f} s remains, so the {name} is treated as missing"
            later = "; later windows of this file are not reported again" if self.windowed else ""
            warnings.warn(
                f"{self.info.path}: {reasons[name]} (a cut or damaged tail): {done}{later}. Re-download or "
                "re-encode the file to use all of it",
                TruncatedMediaWarning,
                stacklevel=4,
            )


class _NothingLeft(MediaError):
    """No stream asked for holds at least `MIN_REMAINING_FRACTION` of a range (its tail is lost)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keep `reason` when pickled (the message alone is what `args` holds).
        return type(self), (str(self), self.reason)


def _serves(start_s: float, data_end: float, end_s: float) -> bool:
    """Whether data reaching `data_end` holds at least `MIN_REMAINING_FRACTION` of `[start_s, end_s)`."""
    return data_end - start_s >= MIN_REMAINING_FRACTION * (end_s - start_s) - _TIME_EPS_S


def scaled_frame_size(source_size: tuple[int, int], frame_size: FrameSize) -> tuple[int, int]:
    """Resolve `frame_size` for frames of `source_size` `(height, width)` into `(height, width)` pixels.

    A tuple is taken as given, an int is the shorter side with the aspect ratio kept, None keeps the source size.
    """
    if frame_size is None:
        return source_size
    if isinstance(frame_size, int):
        height, width = source_size
        scale = frame_size / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    return int(frame_size[0]), int(frame_size[1])


def clip_window(
    start_s: float, end_s: float, clip_duration_s: float | None, position: str = "center"
) -> tuple[float, float]:
    """Return the window of `clip_duration_s` seconds at `position` (`"center"` or `"start"`) of `[start_s, end_s)`.

    The whole range is returned when it is not longer than `clip_duration_s` (or when that is None).
    """
    if position not in ("center", "start"):
        raise ValueError(f"clip_position must be 'center' or 'start', got {position!r}")
    if clip_duration_s is None or end_s - start_s <= clip_duration_s:
        return start_s, end_s
    if clip_duration_s <= 0:
        raise ValueError(f"clip_duration_s must be positive, got {clip_duration_s}")
    lo = start_s if position == "start" else start_s + (end_s - start_s - clip_duration_s) / 2
    return lo, lo + clip_duration_s


MODALITIES = ("video", "audio")


def check_modalities_argument(modalities: Sequence[str] | None) -> tuple[bool, bool]:
    """Validate a `modalities` argument (None: both); returns `(decode_video, decode_audio)`."""
    if modalities is None:
        return True, True
    if isinstance(modalities, str):
        modalities = (modalities,)
    chosen = tuple(modalities)
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown or not chosen:
        raise ValueError(
            f"modalities must name one or both of {MODALITIES}, e.g. modalities=('video',); got {modalities!r}"
        )
    return "video" in chosen, "audio" in chosen


def _check_decode_args(num_frames: int, sampling_rate: int, frame_size: FrameSize | FrameSizePolicy) -> None:
    if int(num_frames) < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if int(sampling_rate) < 1:
        raise ValueError(f"sampling_rate must be a positive number of Hz, got {sampling_rate}")
    if isinstance(frame_size, FrameSizePolicy):
        return
    if isinstance(frame_size, int):
        if frame_size < 1:
            raise ValueError(f"frame_size as an int is the shorter side in pixels, got {frame_size}")
    elif frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 1):
        raise ValueError(f"frame_size must be (height, width) or the shorter side in pixels, got {frame_size}")


def decode_clip(
    source: MediaSource,
    num_frames: int,
    sampling_rate: int,
    start_s: float | None = None,
    end_s: float | None = None,
    limits: MediaLimits | None = None,
    allow_missing_audio: bool = False,
    allow_missing_video: bool = False,
    frame_size: FrameSize | FrameSizePolicy = None,
    clip_duration_s: float | None = None,
    clip_position: str = "center",
    modalities: Sequence[str] | None = None,
    max_clip_duration_s: float | None = None,
) -> DecodedClip:
    """Decode `num_frames` frames sampled uniformly over `[start_s, end_s)` and the audio of the same range.

    Frames are sampled by `sample_frame_times` and decoded by seeking to the keyframe before a target and decoding
    forward to it; only the frames needed are decoded and converted to RGB. Audio is resampled with PyAV's
    `AudioResampler` to `sampling_rate` and averaged over channels to mono.

    Args:
        source: Path to a video (mp4, mkv, avi, flv, webm) or audio (wav, flac, mp3) file, or its raw bytes.
        num_frames: Frames to sample, `T`.
        sampling_rate: Audio rate to resample to, Hz.
        start_s: Start of the range, seconds (default: start of the file).
        end_s: End of the range, seconds, exclusive (default and upper bound: end of the file).
        limits: Safety limits (default `MediaLimits()`).
        allow_missing_audio: Return `audio=None, has_audio=False` for a file without audio instead of raising.
        allow_missing_video: Return `frames=None, has_video=False` for a file without video instead of raising.
        frame_size: Size to scale frames to while converting them (FFmpeg area filter): `(height, width)`, an int
            giving the shorter side (aspect ratio kept), or a `FrameSizePolicy` that chooses it from the range's
            first frame (the face crop's); default the file's own size.
        clip_duration_s: Keep only a window of this many seconds of the range (all of it when shorter).
        clip_position: Where that window lies in the range: `"center"` or `"start"`.
        modalities: Which streams to decode, `("video",)`, `("audio",)` or both (default); the other is returned
            as missing (`has_audio=False` / `has_video=False`) without being read.
        max_clip_duration_s: Longest range decoded (after `clip_duration_s`): a longer one is cut to its window of
            this many seconds at `clip_position`, with a `LongClipWarning`, so memory stays flat in the file's
            length (the audio of a range is held whole). None: no limit.

    Returns:
        A `DecodedClip` with `(T, H, W, 3)` uint8 frames and `(round(duration * sampling_rate),)` float32 audio.

    Raises:
        MediaError: every problem with the file (see the module docstring); the message names the file and the fix.
    """
    _check_decode_args(num_frames, sampling_rate, frame_size)
    want_video, want_audio = check_modalities_argument(modalities)
    media = _OpenMedia.open(source, limits or MediaLimits())
    with media.container:
        _check_modalities(media.info, allow_missing_audio or not want_audio, allow_missing_video or not want_video)
        start, end = _resolve_range(media.info, start_s, end_s)
        start, end = clip_window(start, end, clip_duration_s, clip_position)
        if max_clip_duration_s is not None and end - start > max_clip_duration_s:
            long_s = end - start
            start, end = clip_window(start, end, max_clip_duration_s, clip_position)
            warnings.warn(
                f"{media.info.path}: {long_s:.1f} s is longer than max_clip_duration_s={max_clip_duration_s:g}, so the "
                f"whole-clip inputs are made from its {clip_position} {max_clip_duration_s:g} s ({start:.1f}-"
                f"{end:.1f} s); pass window_s (pipeline, CLI) or use iter_clips for a timeline of all of it",
                LongClipWarning,
                stacklevel=3,
            )
        frames = int(num_frames) if want_video else 0
        try:
            return media.decode(frames, int(sampling_rate), start, end, frame_size, decode_audio=want_audio)
        except _NothingLeft as error:
            raise MediaError(str(error)) from None


def iter_windows(
    source: MediaSource,
    window_s: float,
    stride_s: float,
    num_frames: int,
    sampling_rate: int,
    limits: MediaLimits | None = None,
    allow_missing_audio: bool = False,
    allow_missing_video: bool = False,
    frame_size: FrameSize | FrameSizePolicy = None,
    modalities: Sequence[str] | None = None,
    windows: slice | None = None,
) -> Iterator[DecodedClip]:
    """Yield one `DecodedClip` per window of a long file, decoding window by window so memory stays flat.

    Windows are `window_bounds(duration, window_s, stride_s)`; each is decoded like `decode_clip` with `num_frames`
    frames and `sampling_rate` audio, from one open file (headers are read once). Only the current window's frames
    and audio are held. `modalities` as in `decode_clip`. `windows` (a slice of window indices, e.g. `slice(8, 16)`)
    decodes only those windows, so several processes can share one file; a window decodes the same either way.

    A file whose tail is lost (a cut download, a damaged end) is decoded as `decode_clip` decodes each range: a
    stream is used in a window as far as it goes, missing in a window where less than `MIN_REMAINING_FRACTION` of
    it remains, and the windows stop, with a `TruncatedMediaWarning`, at the first window no stream can serve.

    Raises:
        MediaError: as `decode_clip`, raised when the problem is met; a lost tail is refused only when not even the
            first window can be served.
    """
    _check_decode_args(num_frames, sampling_rate, frame_size)
    want_video, want_audio = check_modalities_argument(modalities)
    media = _OpenMedia.open(source, limits or MediaLimits())
    media.windowed = True
    with media.container:
        _check_modalities(media.info, allow_missing_audio or not want_audio, allow_missing_video or not want_video)
        frames = int(num_frames) if want_video else 0
        bounds = window_bounds(media.info.duration_s, window_s, stride_s, media.info.start_s)
        for index in range(len(bounds))[windows] if windows is not None else range(len(bounds)):
            start, end = bounds[index]
            try:
                clip = media.decode(frames, int(sampling_rate), start, end, frame_size, decode_audio=want_audio)
            except _NothingLeft as error:
                if index == 0:
                    raise MediaError(str(error)) from None
                warnings.warn(
                    f"{media.info.path}: {error.reason} (a cut or damaged tail): the windows from {start:.2f} s on "
                    f"({len(bounds) - index} of {len(bounds)}) hold less than MIN_REMAINING_FRACTION="
                    f"{MIN_REMAINING_FRACTION:g} of their span and are left out. Re-download or re-encode the file "
                    "to use all of it",
                    TruncatedMediaWarning,
                    stacklevel=2,
                )
                return
            yield clip
