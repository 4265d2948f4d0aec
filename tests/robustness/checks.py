"""Assertions shared by the robustness tests: a decoded clip against a case's `Expected`, an error's message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from av_emotion.processing.media import DecodedClip, MediaError
from tests.robustness.catalogue import Case, Expected
from tests.robustness.factory import LEVELS, frame_number, level


@dataclass
class Outcome:
    """What one call gave: its value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


def attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    try:
        return Outcome(value=function(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - the test decides which exceptions are acceptable
        return Outcome(error=error)


def label_of(source: Any) -> str:
    """The name a `MediaError` must give for `source` (a path, or in-memory bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes: {len(source)} bytes>"
    return str(source)


def assert_media_error(outcome: Outcome, source: Any, fragments: Sequence[str], what: str) -> None:
    """`outcome` is a `MediaError` whose message starts with the file's name and contains every fragment."""
    assert outcome.error is not None, f"{what}: expected a MediaError, got a result"
    assert isinstance(outcome.error, MediaError), (
        f"{what}: expected a MediaError, got {type(outcome.error).__name__}: {outcome.error}"
    )
    message = str(outcome.error)
    assert message.startswith(label_of(source)), f"{what}: the message does not start with the file: {message}"
    for fragment in fragments:
        assert fragment in message, f"{what}: {fragment!r} is not in the message: {message}"


def sampled_times(num_frames: int, start_s: float, end_s: float) -> np.ndarray:
    """Segment centres, as `decode_clip` documents its sampling (written out here, not imported)."""
    return start_s + (np.arange(num_frames) + 0.5) * (end_s - start_s) / num_frames


def frames_on_screen(frame_times_s: Sequence[float], targets: np.ndarray) -> np.ndarray:
    """Index of the written frame on screen at each target: the last one starting at or before it (else the first)."""
    times = np.asarray(frame_times_s, dtype=np.float64)
    return np.clip(np.searchsorted(times, targets + 1e-6, side="right") - 1, 0, None)


def assert_tone(
    audio: np.ndarray,
    rate: int,
    start_s: float,
    end_s: float,
    expected: Expected,
    what: str,
    timestamp_step_s: float = 0.0,
) -> None:
    """The first audio stream's tone is where it should be, at the right pitch and level, and silence after it.

    For lossless audio the samples must be the written tone up to a time shift of at most half an output sample
    (where `decode_clip` places the first sample) plus half the container's timestamp step (Matroska rounds packet
    times to 1 ms, and after a seek those times are all a decoder has).
    """
    audio_end = end_s if expected.audio_end_s is None else min(end_s, expected.audio_end_s)
    times = start_s + np.arange(audio.shape[0]) / rate
    inside = (times >= max(start_s, 0.0) + 0.05) & (times < audio_end - 0.05)
    if inside.sum() >= 0.1 * rate:
        part = audio[inside].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size), n=8 * rate))
        pitch = np.argmax(spectrum) * rate / (8 * rate)
        assert abs(pitch - expected.audio_frequency) < 5, f"{what}: tone at {pitch:.1f} Hz"
        if expected.audio_amplitude is not None:
            rms = float(np.sqrt(np.mean(part**2)))
            want = expected.audio_amplitude / np.sqrt(2)
            assert abs(rms - want) < 0.1 * want, f"{what}: tone RMS {rms:.4f}, expected {want:.4f}"
        if expected.lossless_audio:
            omega = 2 * np.pi * expected.audio_frequency
            basis = np.stack([np.sin(omega * times[inside]), np.cos(omega * times[inside])], axis=1)
            (sin_part, cos_part), *_ = np.linalg.lstsq(basis, part, rcond=None)
            residual = float(np.max(np.abs(part - basis @ np.array([sin_part, cos_part]))))
            amplitude = float(np.hypot(sin_part, cos_part))
            shift_s = float(np.arctan2(cos_part, sin_part)) / omega
            assert residual < 0.01, f"{what}: samples are not the written tone (off by up to {residual:.4f})"
            assert abs(amplitude - expected.audio_amplitude) < 0.01 * expected.audio_amplitude, (
                f"{what}: amplitude {amplitude:.4f}, expected {expected.audio_amplitude:.4f}"
            )
            bound = 0.5 / rate + timestamp_step_s / 2 + 1e-6
            assert abs(shift_s) <= bound, f"{what}: the tone is shifted by {shift_s * 1e3:.3f} ms (> {bound * 1e3:.3f})"
    after = times >= audio_end + 0.05
    if after.any():
        assert float(np.max(np.abs(audio[after]))) < 1e-3, f"{what}: audio after the stream's end is not silent"


def assert_clip(
    clip: DecodedClip,
    expected: Expected,
    num_frames: int,
    rate: int,
    source: Any,
    what: str,
    timestamp_step_s: float = 0.0,
    frame_size: int | None = None,
) -> None:
    """A decoded clip holds exactly what the case's file was written with, over the clip's own range."""
    assert isinstance(clip, DecodedClip), f"{what}: got {type(clip).__name__}"
    assert clip.path == label_of(source)
    start, end = clip.start_s, clip.end_s
    assert end > start
    assert clip.has_video == expected.has_video and clip.has_audio == expected.has_audio, what
    if expected.has_video:
        height, width = scaled_size(expected.display_size, frame_size)
        assert clip.frames.shape == (num_frames, height, width, 3), f"{what}: frames {clip.frames.shape}"
        assert clip.frames.dtype == np.uint8
        assert clip.source_size == expected.display_size
        want = frames_on_screen(expected.frame_times_s, sampled_times(num_frames, start, end))
        got = [frame_number(frame) for frame in clip.frames]
        assert got == (want % LEVELS).tolist(), f"{what}: frames {got}, expected the written frames {want.tolist()}"
        for index, frame in zip(want, clip.frames):
            # Every pixel of the flat frame, not only its mean, is the written level (lossy codecs: within 4).
            assert np.abs(frame.astype(np.int16) - level(int(index))).max() <= 4, f"{what}: frame {index} is off"
        np.testing.assert_allclose(clip.frame_times, np.asarray(expected.frame_times_s)[want], atol=2e-3)
    else:
        assert clip.frames is None and clip.frame_times.shape == (0,) and clip.source_size is None, what
    if expected.has_audio:
        assert clip.audio.shape == (int(round((end - start) * rate)),), f"{what}: audio {clip.audio.shape}"
        assert clip.audio.dtype == np.float32 and clip.sampling_rate == rate
        assert np.isfinite(clip.audio).all() and np.abs(clip.audio).max() <= 1.0
        assert_tone(clip.audio, rate, start, end, expected, what, timestamp_step_s)
    else:
        assert clip.audio is None, what


def scaled_size(size: tuple[int, int], shorter_side: int | None) -> tuple[int, int]:
    """`(height, width)` scaled so the shorter side is `shorter_side` pixels, aspect ratio kept."""
    if shorter_side is None:
        return size
    scale = shorter_side / min(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def audio_timestamp_step_s(path: Any) -> float:
    """Seconds between representable timestamps of a file's first audio stream (0 without one or on error)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0] if container.streams.audio else None
            return float(stream.time_base) if stream is not None and stream.time_base else 0.0
    except (av.error.FFmpegError, OSError):
        return 0.0


def decode_flags(case: Case) -> dict[str, Any]:
    """Keyword arguments that let a result case decode: its limits, and consent to the modality it lacks."""
    expected = case.expected
    return {
        "limits": case.limits,
        "frame_size": case.frame_size,
        "allow_missing_audio": case.allow_missing_audio or (expected is not None and not expected.has_audio),
        "allow_missing_video": expected is not None and not expected.has_video,
    }


def assert_tail_clip(
    clip: DecodedClip, tail: Expected, num_frames: int, rate: int, source: Any, what: str, step: float = 0.0
) -> None:
    """A clip decoded from a file whose tail is lost holds what the file still has, and says what it lacks.

    Each stream in `truncated_streams` is present exactly when at least `MIN_REMAINING_FRACTION` of the clip's
    range remains (written out here: one half); present video frames are the written frames on screen at the
    clip's `num_frames` times sampled up to where the video data ends; present audio is the written tone, only as
    long as the audio data reaches.
    """
    assert isinstance(clip, DecodedClip), f"{what}: got {type(clip).__name__}"
    assert clip.path == label_of(source)
    start, end = clip.start_s, clip.end_s
    ends = clip.truncated_streams
    assert set(ends) <= {"video", "audio"}, f"{what}: {ends}"
    for name, data_end in ends.items():
        assert start - 1e-6 <= data_end < end, f"{what}: the {name} data end {data_end} is outside {start}-{end}"
        present = clip.has_video if name == "video" else clip.has_audio
        assert present == (data_end - start >= 0.5 * (end - start) - 1e-6), f"{what}: {name} kept={present}, {ends}"
    assert clip.has_video or "video" in ends or not tail.has_video, what
    if clip.has_video:
        video_end = ends.get("video", end)
        want = frames_on_screen(tail.frame_times_s, sampled_times(num_frames, start, video_end))
        got = [frame_number(frame) for frame in clip.frames]
        assert got == (want % LEVELS).tolist(), f"{what}: frames {got}, expected the written frames {want.tolist()}"
        assert (clip.frame_times < video_end).all(), f"{what}: a frame after the video data end"
    if clip.has_audio:
        audio_end = ends.get("audio", end)
        assert clip.audio.shape == (int(round((audio_end - start) * rate)),), f"{what}: audio {clip.audio.shape}"
        assert np.isfinite(clip.audio).all() and np.abs(clip.audio).max() <= 1.0
        assert_tone(clip.audio, rate, start, audio_end, tail, what, step)
    else:
        assert clip.audio is None, what


def assert_tail_outcome(
    outcome: Outcome,
    tail: Expected,
    fragments: Sequence[str],
    num_frames: int,
    rate: int,
    source: Any,
    what: str,
    step: float = 0.0,
) -> None:
    """A lost tail is either used (see `assert_tail_clip`) or refused naming the problem and the rule."""
    if outcome.error is not None:
        assert_media_error(outcome, source, (*fragments, "MIN_REMAINING_FRACTION"), what)
        return
    # A loss shorter than the decoder's tolerance (a fraction of a frame) may go unreported: then the clip must hold
    # the whole range as written.
    assert_tail_clip(outcome.value, tail, num_frames, rate, source, what, step)
