"""The catalogue of bad and unusual media: how each file is made, and what decoding it must give.

Each `Case` names a file, a function that writes it, and its expected outcome: either a `MediaError` whose message
contains given fragments (and always the file's name), or an `Expected` result (streams, duration, which written
frame is on screen at each sampled time, the audio tone). Expectations come from how the file was written, never
from the decoder. Test modules run every case through one stage each (media decoding, the processor, the pipeline,
the dataset builders).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from av_emotion.processing.media import MediaLimits
from tests.robustness.factory import (
    AudioTrack,
    VideoTrack,
    find_box,
    forge_mp4_durations,
    level,
    write_media,
    y4m_header,
)


def uniform(num_frames: int = 10, fps: int = 10) -> tuple[float, ...]:
    return tuple(k / fps for k in range(num_frames))


@dataclass(frozen=True)
class Expected:
    """A correct result: what the file holds, from how it was written.

    Attributes:
        duration_s: Length `probe_media` must report, seconds (within `duration_tolerance_s`).
        has_video, has_audio: Which streams the file has.
        size: Coded frame size `(height, width)` (what `probe_media` reports).
        rotation: Display rotation the file declares, degrees; frames decode turned upright, as a player shows them.
        frame_times_s: Start time of each written frame; frame `k` is a flat grey of `factory.level(k)`.
        audio_frequency: The tone of the first audio stream, Hz.
        audio_amplitude: Amplitude of that tone after averaging the channels to mono (None: not checked).
        audio_end_s: Where the audio stream ends (zeros after it); default the end of the file.
        lossless_audio: PCM/FLAC: decoded samples must match the analytic tone, not only its pitch and level.
    """

    duration_s: float
    has_video: bool = True
    has_audio: bool = True
    size: tuple[int, int] = (32, 48)
    frame_times_s: tuple[float, ...] = uniform()
    audio_frequency: float = 440.0
    audio_amplitude: float | None = 0.5
    audio_end_s: float | None = None
    lossless_audio: bool = False
    duration_tolerance_s: float = 0.07
    rotation: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """`(height, width)` of the frames as shown: the coded size, turned by a quarter-turn rotation."""
        return self.size[::-1] if self.rotation % 180 == 90 else self.size


@dataclass(frozen=True)
class Case:
    """One file and its expected outcome (`expected` for a result, `error` fragments for a `MediaError`).

    `tail` marks a file whose tail is lost (cut or damaged at the end) and describes it as written: decoding must
    either use what remains (the frames and tone of `tail` up to where each stream's data ends, reported in
    `truncated_streams`) or, where less than `MIN_REMAINING_FRACTION` of a range remains, refuse with a
    `MediaError` containing the `error` fragments.
    """

    name: str
    file: str
    make: Callable[[Path], object]
    expected: Expected | None = None
    error: tuple[str, ...] = ()
    limits: MediaLimits | None = None
    # Shorter side to scale frames to while decoding (None: the file's size); keeps huge frames cheap.
    frame_size: int | None = None
    # Consent to a missing audio stream for an error case (result cases consent to what `expected` lacks).
    allow_missing_audio: bool = False
    slow: bool = False
    notes: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    tail: Expected | None = None

    def __post_init__(self) -> None:
        if (self.expected is None) == (not self.error):
            raise ValueError(f"{self.name}: give either an expected result or error fragments")
        if self.tail is not None and self.expected is not None:
            raise ValueError(f"{self.name}: a lost tail is described by `tail` and `error`, not `expected`")


# --------------------------------------------------------------------------------------------------------------
# Makers (each writes `path`; several cases may share one file)
# --------------------------------------------------------------------------------------------------------------


DEFAULT_VIDEO = VideoTrack()
DEFAULT_AUDIO = (AudioTrack(),)


def av_file(
    video: VideoTrack | None = DEFAULT_VIDEO,
    audio: tuple[AudioTrack, ...] = DEFAULT_AUDIO,
    duration_s: float = 1.0,
    container_options: dict[str, str] | None = None,
) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        write_media(path, video=video, audio=audio, duration_s=duration_s, container_options=container_options)

    return make


def bytes_file(data: bytes) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(data)


def cut_file(base: Callable[[Path], object], suffix: str, where: Callable[[bytes], int]) -> Callable[[Path], object]:
    """Write the base file, then keep its first `where(data)` bytes."""

    def make(path: Path) -> None:
        full = path.with_name(path.stem + ".full" + suffix)
        base(full)
        data = full.read_bytes()
        path.write_bytes(data[: where(data)])

    return make


def forged(base: Callable[[Path], object], suffix: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        full = path.with_name(path.stem + ".orig" + suffix)
        base(full)
        path.write_bytes(edit(full.read_bytes()))

    return make


def forge_mkv_duration(seconds: float) -> Callable[[bytes], bytes]:
    """Rewrite a Matroska Segment Info Duration (EBML ID 0x4489, 8-byte float in milliseconds)."""

    def edit(data: bytes) -> bytes:
        index = data.find(b"\x44\x89\x88")
        if index < 0:
            raise ValueError("no 8-byte Matroska Duration element")
        return data[: index + 3] + struct.pack(">d", seconds * 1000.0) + data[index + 11 :]

    return edit


def no_frames_mp4(path: Path) -> None:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
    container.add_stream("aac", rate=16000)
    container.start_encoding()
    container.close()


def directory(path: Path) -> None:
    path.mkdir()


def still_png(path: Path) -> None:
    """A 30 x 20 PNG image of grey level(0), under whatever name `path` has."""
    ok, encoded = cv2.imencode(".png", np.full((20, 30, 3), level(0), dtype=np.uint8))
    assert ok
    path.write_bytes(encoded.tobytes())


PLAIN_MP4 = av_file(video=VideoTrack(num_frames=20), duration_s=2.0)
FASTSTART_MP4 = av_file(video=VideoTrack(num_frames=20), duration_s=2.0, container_options={"movflags": "faststart"})
PLAIN_MKV = av_file(video=VideoTrack(num_frames=20), audio=(AudioTrack(codec="flac"),), duration_s=2.0)
PCM_WAV = av_file(video=None, audio=(AudioTrack(codec="pcm_s16le"),), duration_s=2.0)
LONG_LOW_FPS = av_file(
    video=VideoTrack(fps=1, num_frames=30), audio=(AudioTrack(codec="pcm_s16le", rate=8000),), duration_s=30.0
)
MANY_STREAMS = av_file(
    video=VideoTrack(num_frames=2), audio=(AudioTrack(codec="pcm_s16le", rate=8000),) * 40, duration_s=0.2
)
SURROUND_WAV = av_file(video=None, audio=(AudioTrack(codec="pcm_s16le", rate=48000, layout="5.1"),))
EIGHT_K = av_file(video=VideoTrack(size=(4320, 7680), num_frames=1, options={"crf": "51"}), duration_s=0.1)


def moov_at_end(data: bytes) -> int:
    return find_box(data, b"moov")


def middle_of_mdat(data: bytes) -> int:
    start = find_box(data, b"mdat")
    size = struct.unpack(">I", data[start : start + 4])[0]
    return start + size // 2


def middle_of_moov(data: bytes) -> int:
    start = find_box(data, b"moov")
    size = struct.unpack(">I", data[start : start + 4])[0]
    return start + size // 2


def before_cues(data: bytes) -> int:
    """Offset of the Matroska Cues element (ID 0x1C53BB6B), written after the last cluster."""
    index = data.rfind(b"\x1c\x53\xbb\x6b")
    if index < 0:
        raise ValueError("no Cues element")
    return index


# The mono mix of channels with gains 1, 1/2, ..., 1/n (see `AudioTrack.channel_gains`).
def mono_amplitude(channels: int) -> float:
    return 0.5 * float(np.mean(1.0 / (np.arange(channels) + 1.0)))


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------

ERROR_CASES = [
    Case("missing_file", "missing.mp4", lambda path: None, error=("no such file",)),
    Case("directory", "folder.mp4", directory, error=("is a directory",)),
    Case("empty_file", "empty.mp4", bytes_file(b""), error=("empty",)),
    Case(
        "text_renamed_mp4",
        "notes.mp4",
        bytes_file(b"These are my notes, not a video.\n" * 20),
        error=("not a media file",),
    ),
    Case(
        "random_bytes",
        "noise.mp4",
        bytes_file(np.random.default_rng(0).bytes(4096)),
        error=("not a media file",),
    ),
    Case(
        "subtitles_renamed_mp4",
        "subtitles.mp4",
        bytes_file(b"1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,500 --> 00:00:02,000\nWorld\n"),
        error=("neither a video nor an audio stream", "subtitle"),
    ),
    Case("streams_without_frames", "no_frames.mp4", no_frames_mp4, error=("neither a video nor an audio stream",)),
    # Truncations of an mp4 with its index ('moov') at the end, as cameras and FFmpeg write by default.
    Case(
        "mp4_cut_after_ftyp",
        "cut_ftyp.mp4",
        cut_file(PLAIN_MP4, ".mp4", lambda data: 32),
        error=("truncated", "no 'moov' box"),
    ),
    Case(
        "mp4_cut_in_mdat_index_lost",
        "cut_mdat.mp4",
        cut_file(PLAIN_MP4, ".mp4", middle_of_mdat),
        error=("truncated", "'mdat' box ends at byte", "'moov') is missing"),
    ),
    Case(
        "mp4_cut_before_index",
        "cut_before_moov.mp4",
        cut_file(PLAIN_MP4, ".mp4", moov_at_end),
        error=("truncated", "has no 'moov' box"),
    ),
    Case(
        "mp4_last_byte_missing",
        "cut_last_byte.mp4",
        cut_file(PLAIN_MP4, ".mp4", lambda data: len(data) - 1),
        error=("truncated", "'moov' box ends at byte", "is incomplete"),
    ),
    # Truncations of a web-ready mp4 (index first): the header survives, the media data does not.
    Case(
        "faststart_cut_in_header",
        "fs_cut_header.mp4",
        cut_file(FASTSTART_MP4, ".mp4", lambda data: 100),
        error=("truncated", "'moov' box ends at byte", "is incomplete"),
    ),
    Case(
        "faststart_cut_in_middle_of_header",
        "fs_cut_mid_header.mp4",
        cut_file(FASTSTART_MP4, ".mp4", middle_of_moov),
        error=("truncated", "'moov' box ends at byte", "is incomplete"),
    ),
    Case(
        "faststart_header_only",
        "fs_header_only.mp4",
        cut_file(FASTSTART_MP4, ".mp4", lambda data: find_box(data, b"mdat") + 8),
        error=("no decodable frame", "truncated"),
    ),
    Case(
        "faststart_cut_in_middle_of_mdat",
        "fs_cut_mdat.mp4",
        cut_file(FASTSTART_MP4, ".mp4", middle_of_mdat),
        error=("stream is truncated",),
        tail=Expected(duration_s=2.0, frame_times_s=uniform(20)),
    ),
    Case(
        "faststart_last_bytes_missing",
        "fs_cut_end.mp4",
        cut_file(FASTSTART_MP4, ".mp4", lambda data: len(data) - 16),
        error=("stream is truncated",),
        tail=Expected(duration_s=2.0, frame_times_s=uniform(20)),
        notes="was refused ('audio stream is truncated or corrupt') for a loss of less than one audio frame",
    ),
    Case(
        "mkv_cut_in_header",
        "cut_header.mkv",
        cut_file(PLAIN_MKV, ".mkv", lambda data: 180),
        error=("could not be opened", "truncated inside its header"),
    ),
    Case(
        "mkv_cut_in_middle",
        "cut_middle.mkv",
        cut_file(PLAIN_MKV, ".mkv", lambda data: len(data) // 2),
        error=("stream is truncated", "header says 2.00 s"),
        tail=Expected(duration_s=2.0, frame_times_s=uniform(20)),
    ),
    Case(
        "video_only_mkv_cut_in_middle",
        "silent_cut.mkv",
        cut_file(av_file(video=VideoTrack(num_frames=20), audio=(), duration_s=2.0), ".mkv", lambda d: len(d) // 2),
        error=("video stream is truncated", "header says 2.00 s"),
        tail=Expected(duration_s=2.0, has_audio=False, frame_times_s=uniform(20)),
        allow_missing_audio=True,
        notes="exposed a bug: with 8 sampled frames the truncation went unnoticed and the last frame was repeated",
    ),
    Case(
        "wav_header_only",
        "header_only.wav",
        cut_file(PCM_WAV, ".wav", lambda data: 44),
        error=("not a media file",),
    ),
    # A missing modality without consent (each file decodes with the matching allow_missing_* flag: see below).
    Case(
        "no_audio_stream",
        "silent_film.mp4",
        av_file(audio=()),
        error=("has no audio stream", "allow_missing_audio=True"),
    ),
    Case(
        "no_video_stream_m4a",
        "voice.m4a",
        av_file(video=None),
        error=("has no video stream", "allow_missing_video=True"),
    ),
    Case(
        "no_video_stream_wav",
        "voice.wav",
        av_file(video=None, audio=(AudioTrack(codec="pcm_s16le"),)),
        error=("has no video stream", "wav", "allow_missing_video=True"),
    ),
    # Limits against decompression bombs and hostile headers.
    Case(
        "forged_8k_header",
        "forged_8k.y4m",
        bytes_file(y4m_header(7680, 4320, frames=2)),
        error=("7680x4320", "max_pixels"),
    ),
    Case(
        "forged_65535_square_header",
        "forged_huge.y4m",
        bytes_file(y4m_header(65535, 65535, frames=1)),
        error=("could not be opened", "corrupt or not a media file"),
    ),
    Case(
        "real_8k_frame",
        "eight_k.mp4",
        EIGHT_K,
        error=("7680x4320", "max_pixels"),
        slow=True,
        notes="writing a 7680x4320 frame takes about a second",
    ),
    Case(
        "forged_huge_duration_mkv",
        "forged_duration.mkv",
        forged(PLAIN_MKV, ".mkv", forge_mkv_duration(1e7)),
        error=("lasts 10000000.0 s", "max_duration_s"),
    ),
    Case(
        "long_file_over_max_duration",
        "long_low_fps.mkv",
        LONG_LOW_FPS,
        error=("lasts 30.0 s", "max_duration_s=10"),
        limits=MediaLimits(max_duration_s=10.0),
    ),
    Case(
        "too_many_streams",
        "many_streams.mkv",
        MANY_STREAMS,
        error=("declares 41 streams", "max_streams=32"),
    ),
    Case(
        "too_many_audio_channels",
        "surround.wav",
        SURROUND_WAV,
        error=("6 channels", "max_audio_channels=2"),
        limits=MediaLimits(max_audio_channels=2),
    ),
]

# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------

# Variable frame rate: frame times in seconds; the last frame lasts 1 / fps (0.1 s), so the file lasts 1.09 s.
VFR_TIMES = (0.0, 0.04, 0.05, 0.3, 0.31, 0.7, 0.9, 0.95, 0.96, 0.99)

RESULT_CASES = [
    Case("h264_aac_mono", "plain.mp4", av_file(), expected=Expected(1.0)),
    Case(
        "stereo_48k",
        "stereo.mp4",
        av_file(audio=(AudioTrack(rate=48000, layout="stereo"),)),
        expected=Expected(1.0, audio_amplitude=mono_amplitude(2)),
    ),
    Case(
        "surround_5_1_aac",
        "surround_aac.mp4",
        av_file(audio=(AudioTrack(layout="5.1"),)),
        expected=Expected(1.0, audio_amplitude=None),
        notes="the AAC encoder low-passes the LFE channel, so only the pitch is checked",
    ),
    Case(
        "surround_5_1_pcm",
        "surround.wav",
        SURROUND_WAV,
        expected=Expected(1.0, has_video=False, audio_amplitude=mono_amplitude(6), lossless_audio=True),
    ),
    Case(
        "pcm_8k",
        "tone_8k.wav",
        av_file(video=None, audio=(AudioTrack(codec="pcm_s16le", rate=8000),)),
        expected=Expected(1.0, has_video=False, lossless_audio=True),
    ),
    Case("aac_8k", "aac_8k.mp4", av_file(audio=(AudioTrack(rate=8000),)), expected=Expected(1.0)),
    Case(
        "flac_96k",
        "flac_96k.mkv",
        av_file(audio=(AudioTrack(codec="flac", rate=96000),)),
        expected=Expected(1.0, lossless_audio=True),
    ),
    Case("aac_96k", "aac_96k.mp4", av_file(audio=(AudioTrack(rate=96000),)), expected=Expected(1.0)),
    Case(
        "yuv444p_odd_size",
        "yuv444_odd.mp4",
        av_file(video=VideoTrack(pix_fmt="yuv444p", size=(33, 47))),
        expected=Expected(1.0, size=(33, 47)),
    ),
    Case("yuv422p", "yuv422.mp4", av_file(video=VideoTrack(pix_fmt="yuv422p")), expected=Expected(1.0)),
    Case("gray_h264", "gray.mp4", av_file(video=VideoTrack(pix_fmt="gray")), expected=Expected(1.0)),
    Case(
        "h264_10bit",
        "ten_bit.mp4",
        av_file(video=VideoTrack(pix_fmt="yuv420p10le")),
        expected=Expected(1.0),
    ),
    Case(
        "rgb24_h264rgb_mkv",
        "rgb.mkv",
        av_file(video=VideoTrack(codec="libx264rgb", pix_fmt="rgb24"), audio=(AudioTrack(codec="flac"),)),
        expected=Expected(1.0, lossless_audio=True),
    ),
    Case(
        "ffv1_10bit_444_odd_size",
        "ffv1.mkv",
        av_file(
            video=VideoTrack(codec="ffv1", pix_fmt="yuv444p10le", size=(31, 45)), audio=(AudioTrack(codec="flac"),)
        ),
        expected=Expected(1.0, size=(31, 45), lossless_audio=True),
    ),
    Case(
        "png_rgb24_mov",
        "png.mov",
        av_file(video=VideoTrack(codec="png", pix_fmt="rgb24", size=(31, 45)), audio=(AudioTrack(codec="pcm_s16le"),)),
        expected=Expected(1.0, size=(31, 45), lossless_audio=True),
    ),
    Case(
        "png_gray16_mov",
        "png_gray16.mov",
        av_file(video=VideoTrack(codec="png", pix_fmt="gray16be"), audio=(AudioTrack(codec="pcm_s16le"),)),
        expected=Expected(1.0, lossless_audio=True),
    ),
    Case(
        "mjpeg_full_range_avi",
        "mjpeg.avi",
        av_file(video=VideoTrack(codec="mjpeg", pix_fmt="yuvj420p"), audio=(AudioTrack(codec="pcm_s16le"),)),
        expected=Expected(1.0, lossless_audio=True),
    ),
    Case(
        "mpeg4_odd_size_avi",
        "mpeg4_odd.avi",
        av_file(video=VideoTrack(codec="mpeg4", size=(33, 47)), audio=(AudioTrack(codec="pcm_s16le"),)),
        expected=Expected(1.0, size=(33, 47), lossless_audio=True),
    ),
    Case(
        "one_pixel_video",
        "one_pixel.mp4",
        av_file(video=VideoTrack(pix_fmt="yuv444p", size=(1, 1))),
        expected=Expected(1.0, size=(1, 1)),
    ),
    Case(
        "tall_narrow_gray",
        "tall.mp4",
        av_file(video=VideoTrack(pix_fmt="gray", size=(200, 16))),
        expected=Expected(1.0, size=(200, 16)),
    ),
    Case(
        "one_frame_with_audio",
        "one_frame.mp4",
        av_file(video=VideoTrack(num_frames=1)),
        expected=Expected(1.0, frame_times_s=(0.0,)),
        notes="the only frame stays on screen while the audio goes on",
    ),
    Case(
        "one_frame_no_audio",
        "one_frame_silent.mp4",
        av_file(video=VideoTrack(num_frames=1), audio=()),
        expected=Expected(0.1, has_audio=False, frame_times_s=(0.0,), duration_tolerance_s=0.01),
    ),
    Case(
        "still_png_renamed_mp4",
        "still.mp4",
        lambda path: still_png(path),
        expected=Expected(0.04, has_audio=False, size=(20, 30), frame_times_s=(0.0,), duration_tolerance_s=0.01),
        notes="FFmpeg reads a lone image as a one-frame 25 fps video",
    ),
    Case(
        "variable_frame_rate_mp4",
        "vfr.mp4",
        av_file(video=VideoTrack(pts_ms=tuple(round(t * 1000) for t in VFR_TIMES))),
        expected=Expected(1.09, frame_times_s=VFR_TIMES, audio_end_s=1.0),
    ),
    Case(
        "variable_frame_rate_mkv",
        "vfr.mkv",
        av_file(
            video=VideoTrack(pts_ms=tuple(round(t * 1000) for t in VFR_TIMES)),
            audio=(AudioTrack(codec="flac"),),
        ),
        expected=Expected(1.09, frame_times_s=VFR_TIMES, audio_end_s=1.0, lossless_audio=True),
    ),
    Case(
        "browser_style_webm",
        "recording.webm",
        av_file(
            video=VideoTrack(codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"}),
            audio=(AudioTrack(codec="libopus", rate=48000),),
            container_options={"live": "1"},
        ),
        # Opus starts 312 samples (6.5 ms) before zero; the file's timeline includes them.
        expected=Expected(1.0065, audio_end_s=1.0, duration_tolerance_s=0.01),
        notes="MediaRecorder-style: no seek index (Cues) and no durations, so the length comes from a packet scan",
    ),
    Case(
        "rotated_90_metadata",
        "rotated.mp4",
        av_file(video=VideoTrack(rotation=90)),
        expected=Expected(1.0, rotation=90),
        notes="frames come back turned upright (48x32 from a 32x48 coded picture), as a player shows them",
    ),
    Case(
        "two_audio_streams_first_used",
        "two_tracks.mkv",
        av_file(audio=(AudioTrack(codec="flac"), AudioTrack(codec="flac", frequency=880.0, layout="stereo"))),
        expected=Expected(1.0, lossless_audio=True),
    ),
    Case(
        "many_streams_with_raised_limit",
        "many_streams.mkv",
        MANY_STREAMS,
        expected=Expected(0.2, frame_times_s=uniform(2), audio_amplitude=0.5, lossless_audio=True),
        limits=MediaLimits(max_streams=64),
    ),
    Case(
        "video_shorter_than_audio_mkv",
        "short_video.mkv",
        av_file(video=VideoTrack(num_frames=5), audio=(AudioTrack(codec="flac"),), duration_s=2.0),
        expected=Expected(2.0, frame_times_s=uniform(5), lossless_audio=True),
        notes="exposed a bug: the file was refused as truncated (Matroska has no per-track duration header)",
    ),
    Case(
        "video_shorter_than_audio_mp4",
        "short_video.mp4",
        av_file(video=VideoTrack(num_frames=5), duration_s=2.0),
        expected=Expected(2.0, frame_times_s=uniform(5)),
    ),
    Case(
        "audio_shorter_than_video",
        "short_audio.mkv",
        av_file(video=VideoTrack(num_frames=20), audio=(AudioTrack(codec="flac", duration_s=1.0),), duration_s=2.0),
        expected=Expected(2.0, frame_times_s=uniform(20), audio_end_s=1.0, lossless_audio=True),
    ),
    Case(
        "fragmented_mp4",
        "fragmented.mp4",
        av_file(duration_s=1.0, container_options={"movflags": "frag_keyframe+empty_moov"}),
        # Without an edit list the muxer delays the video after its first frame by the AAC encoder's 1024 priming
        # samples (64 ms at 16 kHz).
        expected=Expected(1.064, frame_times_s=(0.0, *(0.064 + k / 10 for k in range(1, 10)))),
        notes="the layout of browser and streaming recordings; no durations in the header",
    ),
    Case(
        "unknown_durations_in_mp4_header",
        "unknown_durations.mp4",
        forged(av_file(), ".mp4", lambda data: forge_mp4_durations(data, 1e7)),
        expected=Expected(1.0, duration_tolerance_s=0.1),
        notes="exposed a bug: mdhd durations saturated to FFmpeg's 'unknown' sentinel were read as zero duration",
    ),
    Case(
        "wav_cut_in_half",
        "cut_half.wav",
        cut_file(PCM_WAV, ".wav", lambda data: 44 + (len(data) - 44) // 2),
        expected=Expected(1.0, has_video=False, lossless_audio=True, duration_tolerance_s=0.01),
        notes="FFmpeg bounds a wav by its real size: the samples that exist decode",
    ),
    Case(
        "mkv_last_bytes_missing",
        "cut_end.mkv",
        cut_file(PLAIN_MKV, ".mkv", before_cues),
        expected=Expected(2.0, frame_times_s=uniform(20), lossless_audio=True),
        notes="the seek index (Cues), which FFmpeg writes last, is lost: seeks fall back to FFmpeg's own index",
    ),
    Case(
        "audio_only_m4a_allowed",
        "voice.m4a",
        av_file(video=None),
        expected=Expected(1.0, has_video=False),
    ),
    Case(
        "video_only_mp4_allowed",
        "silent_film.mp4",
        av_file(audio=()),
        expected=Expected(1.0, has_audio=False),
    ),
    Case(
        "long_low_frame_rate",
        "long_low_fps.mkv",
        LONG_LOW_FPS,
        expected=Expected(30.0, frame_times_s=uniform(30, fps=1), lossless_audio=True),
    ),
    Case(
        "real_8k_frame_with_raised_limit",
        "eight_k.mp4",
        EIGHT_K,
        expected=Expected(0.1, size=(4320, 7680), frame_times_s=(0.0,), duration_tolerance_s=0.01),
        limits=MediaLimits(max_pixels=7680 * 4320),
        frame_size=90,
        slow=True,
    ),
]


CASES = ERROR_CASES + RESULT_CASES
