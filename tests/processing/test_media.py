"""Media decoding: real clips, sampling and audio checked against independent computations, every bad input."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchaudio

from av_emotion.processing.media import (
    DecodedClip,
    FrameSizePolicy,
    MediaError,
    MediaLimits,
    decode_clip,
    iter_windows,
    probe_media,
    sample_frame_times,
    set_decode_threads,
    window_bounds,
)
from tests.processing.media_factory import frame_index, sine, write_media

MEDIA_SUFFIXES = (".mp4", ".flv", ".wav", ".mkv", ".avi", ".webm", ".flac", ".mp3")


def shared_media_files(shared_data: Path) -> list[Path]:
    """The format samples: every media file except the 1,440 of the audio-only speech corpus (one of those is
    decoded by `test_ravdess_speech_flac_decodes_as_audio_only`)."""
    return sorted(
        p
        for p in shared_data.rglob("*")
        if p.suffix.lower() in MEDIA_SUFFIXES and "ravdess_speech" not in p.relative_to(shared_data).parts
    )


# ------------------------------------------------------------------------------------------------------------
# Real media
# ------------------------------------------------------------------------------------------------------------


def test_every_shared_clip_decodes(shared_data: Path):
    files = shared_media_files(shared_data)
    kinds = {p.suffix for p in files}
    assert {".mp4", ".wav", ".flv"} <= kinds, f"expected mp4, wav and flv samples in {shared_data}"
    assert any(p.name.startswith("02-") for p in files), "the video-only RAVDESS clip is missing"
    for path in files:
        info = probe_media(path)
        clip = decode_clip(path, num_frames=4, sampling_rate=16000, allow_missing_video=True)
        assert clip.has_audio and clip.audio is not None
        assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
        assert clip.audio.shape[0] == round(info.duration_s * 16000)
        assert np.abs(clip.audio).max() <= 1.0
        if path.suffix == ".wav":
            assert not clip.has_video and clip.frames is None and clip.frame_times.shape == (0,)
        else:
            assert clip.has_video and clip.frames.shape == (4, info.height, info.width, 3)
            assert clip.frames.dtype == np.uint8
            assert clip.frames.std() > 5, f"{path.name}: decoded frames look blank"
        if not path.name.startswith("02-"):  # the video-only RAVDESS clip carries a silent track
            assert np.abs(clip.audio).max() > 0.01, f"{path.name}: decoded audio is silent"


def test_ravdess_speech_flac_decodes_as_audio_only(shared_data: Path):
    path = shared_data / "ravdess_speech" / "Actor_01" / "03-01-01-01-01-01-01.flac"
    if not path.is_file():
        pytest.skip(f"{path} not found (the RAVDESS speech corpus, see shared/data/README.md)")
    info = probe_media(path)
    clip = decode_clip(path, num_frames=4, sampling_rate=16000, allow_missing_video=True)
    assert not clip.has_video and clip.frames is None and clip.frame_times.shape == (0,)
    assert clip.has_audio and clip.audio.shape[0] == round(info.duration_s * 16000)
    assert np.abs(clip.audio).max() > 0.01, f"{path.name}: decoded audio is silent"


def test_ravdess_clip_frames_and_audio_duration(ravdess_av_clip: Path):
    clip = decode_clip(ravdess_av_clip, num_frames=16, sampling_rate=16000)
    assert clip.frames.shape == (16, 720, 1280, 3)
    assert clip.source_size == (720, 1280)
    # Independent measure of the video's duration: decode every frame with PyAV.
    with av.open(str(ravdess_av_clip)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream)]
        frame_period = 1.0 / float(stream.average_rate)
    video_duration = times[-1] + frame_period - times[0]
    audio_duration = clip.audio.shape[0] / clip.sampling_rate
    assert abs(audio_duration - video_duration) < frame_period
    # Each returned frame is the one on screen at its target time.
    targets = sample_frame_times(16, clip.start_s, clip.end_s)
    all_times = np.array(times)
    expected = all_times[np.searchsorted(all_times, targets, side="right") - 1]
    np.testing.assert_allclose(clip.frame_times, expected)


def test_one_decoder_thread_gives_the_same_frames(ravdess_av_clip: Path):
    default = decode_clip(ravdess_av_clip, num_frames=16, sampling_rate=16000, frame_size=(180, 320))
    set_decode_threads(1)
    try:
        single = decode_clip(ravdess_av_clip, num_frames=16, sampling_rate=16000, frame_size=(180, 320))
    finally:
        set_decode_threads(0)
    np.testing.assert_array_equal(single.frames, default.frames)
    np.testing.assert_array_equal(single.frame_times, default.frame_times)
    with pytest.raises(ValueError, match="count must be >= 0"):
        set_decode_threads(-1)


def test_bytes_input_matches_path_input(tmp_path: Path):
    path = write_media(tmp_path / "clip.mp4", duration_s=1.0, size=(48, 64), sampling_rate=48000)
    from_path = decode_clip(path, num_frames=4, sampling_rate=16000, frame_size=(24, 32))
    from_bytes = decode_clip(path.read_bytes(), num_frames=4, sampling_rate=16000, frame_size=(24, 32))
    assert from_path.frames.shape == (4, 24, 32, 3) and from_path.audio.shape == (16000,)
    np.testing.assert_array_equal(from_path.frames, from_bytes.frames)
    np.testing.assert_array_equal(from_path.audio, from_bytes.audio)
    assert from_bytes.path.startswith("<bytes:")


def test_audio_matches_torchaudio_resampling_of_the_wav(tmp_path: Path):
    # A synthetic voice (harmonics up to 0.45 x 48 kHz) in a 48-kHz 16-bit wav, as RAVDESS's speech files are.
    from av_emotion.data.synthetic import SyntheticCorpusConfig, render_clip

    _, voice = render_clip("happy", 3, config=SyntheticCorpusConfig(duration_s=1.5, sampling_rate=48000))
    path = tmp_path / "voice.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(48000)
        handle.writeframes((np.clip(voice, -1, 1) * 32767).astype("<i2").tobytes())
    with wave.open(str(path)) as handle:
        rate = handle.getframerate()
        raw = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768
    reference = torchaudio.functional.resample(torch.from_numpy(raw), rate, 16000).numpy()
    clip = decode_clip(path, num_frames=1, sampling_rate=16000, allow_missing_video=True)
    n = min(len(reference), len(clip.audio))
    core = slice(100, n - 100)  # both resamplers differ only in their edge transients
    assert np.corrcoef(clip.audio[core], reference[core])[0, 1] > 0.999
    # Two different resampling filters: they agree to within 2% of the signal's energy (and exactly in phase).
    residual = clip.audio[core] - reference[core]
    assert np.sqrt(np.mean(residual**2)) < 0.02 * np.sqrt(np.mean(reference[core] ** 2))


# ------------------------------------------------------------------------------------------------------------
# Sampling and audio on generated files (known content)
# ------------------------------------------------------------------------------------------------------------


def test_sample_frame_times_are_segment_centres():
    np.testing.assert_allclose(sample_frame_times(4, 1.0, 3.0), [1.25, 1.75, 2.25, 2.75])
    with pytest.raises(ValueError, match="num_frames"):
        sample_frame_times(0, 0.0, 1.0)
    with pytest.raises(ValueError, match="empty"):
        sample_frame_times(2, 1.0, 1.0)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_frames_are_the_ones_on_screen_at_the_target_times(tmp_path: Path, suffix: str):
    path = write_media(tmp_path / f"clip{suffix}", duration_s=2.0, fps=10)
    clip = decode_clip(path, num_frames=8, sampling_rate=16000, start_s=0.3, end_s=1.9)
    targets = sample_frame_times(8, 0.3, 1.9)
    assert [frame_index(f) for f in clip.frames] == [int(np.floor(t * 10 + 1e-9)) for t in targets]
    assert clip.frames.shape == (8, 48, 64, 3)


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".avi", ".mp3", ".flac", ".wav"])
def test_each_container_format_decodes(tmp_path: Path, suffix: str):
    has_video = suffix in (".mkv", ".webm", ".avi")
    rate = 48000 if suffix == ".webm" else 44100  # Opus runs at 48 kHz
    path = write_media(tmp_path / f"clip{suffix}", duration_s=2.0, fps=10, video=has_video, sampling_rate=rate)
    clip = decode_clip(path, num_frames=8, sampling_rate=16000, allow_missing_video=not has_video)
    assert clip.has_video == has_video and clip.has_audio
    if has_video:
        indices = [frame_index(f) for f in clip.frames]
        assert clip.frames.shape == (8, 48, 64, 3)
        assert indices == sorted(indices) and indices[0] <= 1 and indices[-1] >= 17
    # The 0.5-amplitude sine survives every codec: RMS 0.354 (edges and codec delays aside).
    rms = float(np.sqrt(np.mean(clip.audio[1600:-1600] ** 2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.03


@pytest.mark.parametrize("num_frames", [3, 16, 60])
def test_sparse_and_dense_sampling_of_a_long_file(tmp_path: Path, num_frames: int):
    # 30 s at 10 fps with a keyframe every second: sparse sampling seeks, dense sampling decodes forward.
    path = write_media(tmp_path / "long.mp4", duration_s=30.0, fps=10, gop=10, audio=False)
    clip = decode_clip(path, num_frames=num_frames, sampling_rate=16000, allow_missing_audio=True)
    expected = [int(np.floor(t * 10 + 1e-9)) % 60 for t in sample_frame_times(num_frames, 0.0, 30.0)]
    assert [frame_index(f) for f in clip.frames] == expected


def test_irregular_keyframes_do_not_stall_the_reader(tmp_path: Path):
    # Keyframes at 0 s, 1 s and 20 s only: after seeking to 5 s the reader lands 4 s early (more than the 1 s
    # interval it learns) and must decode forward rather than seek to the same keyframe again.
    path = write_media(tmp_path / "irregular.mp4", duration_s=30.0, fps=10, audio=False, keyframes={0, 10, 200})
    with av.open(str(path)) as container:
        keys = [p.pts for p in container.demux(container.streams.video[0]) if p.is_keyframe]
    assert len(keys) == 3
    clip = decode_clip(path, num_frames=3, sampling_rate=8000, allow_missing_audio=True)
    assert [frame_index(f) for f in clip.frames] == [50 % 60, 150 % 60, 250 % 60]


def test_frame_size_scales_while_converting(tmp_path: Path):
    path = write_media(tmp_path / "clip.mp4", size=(96, 128))
    clip = decode_clip(path, num_frames=2, sampling_rate=8000, frame_size=(24, 32))
    assert clip.frames.shape == (2, 24, 32, 3) and clip.source_size == (96, 128)
    full = decode_clip(path, num_frames=2, sampling_rate=8000)
    # Flat frames stay flat at any size.
    np.testing.assert_allclose(clip.frames.mean(axis=(1, 2, 3)), full.frames.mean(axis=(1, 2, 3)), atol=1.0)


def sine_delay_and_amplitude(signal: np.ndarray, sampling_rate: int, frequency: float) -> tuple[float, float]:
    """Least-squares fit of a*sin(2 pi f (t - d)) to `signal` sampled at t = n / rate: returns (d, a)."""
    t = np.arange(signal.shape[0]) / sampling_rate
    basis = np.stack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t)], axis=1)
    (s, c), *_ = np.linalg.lstsq(basis, signal.astype(np.float64), rcond=None)
    return float(-np.arctan2(c, s) / (2 * np.pi * frequency)), float(np.hypot(s, c))


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_audio_range_is_resampled_and_time_aligned(tmp_path: Path, suffix: str):
    path = write_media(tmp_path / f"tone{suffix}", duration_s=2.0, video=False, sampling_rate=44100, frequency=440.0)
    clip = decode_clip(path, num_frames=1, sampling_rate=16000, start_s=0.5, end_s=1.5, allow_missing_video=True)
    assert clip.audio.shape == (16000,)
    # The decoded range starts at 0.5 s: it must be the tone's phase at 0.5 s, to within half an output sample.
    reference_delay, _ = sine_delay_and_amplitude(sine(0.5 + np.arange(16000) / 16000)[100:-100], 16000, 440.0)
    delay, amplitude = sine_delay_and_amplitude(clip.audio[100:-100], 16000, 440.0)
    period = 1 / 440.0
    error = (delay - reference_delay + period / 2) % period - period / 2
    assert abs(error) <= 0.5 / 16000 + 1e-6
    assert abs(amplitude - 0.5) < 0.01


def test_stereo_is_averaged_to_mono(tmp_path: Path):
    # Left = s(t), right = 0.5 s(t): the mean is 0.75 s(t) (FFmpeg's own downmix would give 1.06 s(t)).
    path = write_media(tmp_path / "stereo.wav", video=False, channels=2)
    clip = decode_clip(path, num_frames=1, sampling_rate=48000, allow_missing_video=True)
    expected = 0.75 * sine(np.arange(clip.audio.shape[0]) / 48000)
    np.testing.assert_allclose(clip.audio[10:-10], expected[10:-10], atol=1e-3)


def test_mp4_audio_length_matches_the_range(tmp_path: Path):
    path = write_media(tmp_path / "clip.mp4", duration_s=2.0)
    clip = decode_clip(path, num_frames=4, sampling_rate=22050, start_s=0.25, end_s=1.75)
    assert clip.audio.shape == (round(1.5 * 22050),)
    rms = float(np.sqrt(np.mean(clip.audio**2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.02  # the 0.5-amplitude sine survives AAC


def test_window_bounds_cover_the_file_with_equal_windows():
    assert window_bounds(10.0, 4.0, 2.0) == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0)]
    assert window_bounds(9.0, 4.0, 4.0) == [(0.0, 4.0), (4.0, 8.0), (5.0, 9.0)]
    assert window_bounds(3.0, 4.0, 2.0) == [(0.0, 3.0)]


def test_iter_windows_streams_each_window(tmp_path: Path):
    path = write_media(tmp_path / "long.mp4", duration_s=6.0, fps=10, gop=10)
    clips = list(iter_windows(path, window_s=2.0, stride_s=1.5, num_frames=4, sampling_rate=8000))
    bounds = window_bounds(6.0, 2.0, 1.5)
    assert [(c.start_s, c.end_s) for c in clips] == bounds
    for clip, (lo, hi) in zip(clips, bounds):
        assert isinstance(clip, DecodedClip)
        assert clip.frames.shape == (4, 48, 64, 3) and clip.audio.shape == (16000,)
        expected = [int(np.floor(t * 10 + 1e-9)) for t in sample_frame_times(4, lo, hi)]
        assert [frame_index(f) for f in clip.frames] == expected


# ------------------------------------------------------------------------------------------------------------
# Bad input: each error is a MediaError naming the file and the fix
# ------------------------------------------------------------------------------------------------------------


def assert_media_error(excinfo: pytest.ExceptionInfo, path: object, *fragments: str) -> None:
    assert type(excinfo.value) is MediaError
    message = str(excinfo.value)
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000)
    assert_media_error(excinfo, path, "no such file", "check the path")


def test_directory_and_empty_file(tmp_path: Path):
    with pytest.raises(MediaError) as excinfo:
        probe_media(tmp_path)
    assert_media_error(excinfo, tmp_path, "is a directory")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as excinfo:
        decode_clip(empty, 4, 16000)
    assert_media_error(excinfo, empty, "empty")


def test_text_renamed_mp4(tmp_path: Path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 50)
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000)
    assert_media_error(excinfo, path, "not a media file", "pass a video (mp4")


def test_random_bytes():
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(MediaError) as excinfo:
        decode_clip(data, 4, 16000)
    assert_media_error(excinfo, "<bytes: 5000 bytes>", "not a media file")


@pytest.fixture(scope="module")
def web_ready_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-s 1280x720 h264+aac mp4 with its index first, as RAVDESS's files (and web-ready files) have."""
    path = tmp_path_factory.mktemp("web_ready") / "clip.mp4"
    return write_media(path, duration_s=3.0, fps=10, size=(720, 1280), faststart=True)


# Less than MIN_REMAINING_FRACTION (half) of the clip remains: refused (tests/processing/test_damaged_tails.py has
# the tails that are used).
@pytest.mark.parametrize("fraction", [0.3, 0.01, 0.0005])
def test_truncated_mp4(tmp_path: Path, web_ready_mp4: Path, fraction: float):
    data = web_ready_mp4.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 16, 16000)
    assert_media_error(excinfo, path, "truncated", "re-")


def test_truncated_mp4_still_decodes_the_part_that_exists(tmp_path: Path, web_ready_mp4: Path):
    data = web_ready_mp4.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    clip = decode_clip(path, 4, 16000, end_s=1.0)
    assert clip.frames.shape == (4, 720, 1280, 3) and clip.audio.shape == (16000,)


def test_truncated_audio_track(tmp_path: Path):
    # An m4a with its index first (as web-ready files have) cut after a third: the header still says 4 s, and less
    # than MIN_REMAINING_FRACTION of it remains.
    path = write_media(tmp_path / "tone.m4a", duration_s=4.0, video=False, faststart=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(data[: len(data) // 3])
    assert probe_media(cut).duration_s == pytest.approx(4.0, abs=0.05)
    with pytest.raises(MediaError) as excinfo:
        decode_clip(cut, 1, 16000, allow_missing_video=True)
    assert_media_error(excinfo, cut, "audio stream is truncated", "re-download")


def test_no_video_stream(tmp_path: Path):
    path = write_media(tmp_path / "speech.wav", video=False)
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000)
    assert_media_error(excinfo, path, "no video stream", "allow_missing_video=True")
    clip = decode_clip(path, 4, 16000, allow_missing_video=True)
    assert clip.frames is None and not clip.has_video and clip.has_audio


def test_no_audio_stream(tmp_path: Path):
    path = write_media(tmp_path / "silent_film.mp4", audio=False)
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000)
    assert_media_error(excinfo, path, "no audio stream", "allow_missing_audio=True")
    clip = decode_clip(path, 4, 16000, allow_missing_audio=True)
    assert clip.audio is None and not clip.has_audio and clip.frames.shape[0] == 4


def test_zero_duration(tmp_path: Path):
    path = tmp_path / "zero.wav"
    container = av.open(str(path), "w")
    container.add_stream("pcm_s16le", rate=16000)
    container.start_encoding()
    container.close()
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000, allow_missing_video=True)
    assert_media_error(excinfo, path, "zero duration")


def test_empty_or_outside_range(tmp_path: Path):
    path = write_media(tmp_path / "clip.mp4", duration_s=2.0)
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000, start_s=3.0)
    assert_media_error(excinfo, path, "outside the file", "start_s < end_s")
    with pytest.raises(ValueError, match="num_frames"):
        decode_clip(path, 0, 16000)


@pytest.mark.parametrize(
    ("limits", "fragments"),
    [
        (MediaLimits(max_pixels=32 * 32), ["64x48", "max_pixels=1024", "MediaLimits(max_pixels="]),
        (MediaLimits(max_duration_s=1.0), ["lasts 3.2 s", "max_duration_s=1", "MediaLimits(max_duration_s="]),
        (MediaLimits(max_streams=1), ["2 streams", "max_streams=1"]),
        (MediaLimits(max_audio_channels=1), ["2 channels", "max_audio_channels=1"]),
        (MediaLimits(max_file_bytes=1000), ["exceeds MediaLimits.max_file_bytes=1000"]),
    ],
)
def test_limits_refuse_oversized_input(tmp_path: Path, limits: MediaLimits, fragments: list[str]):
    # A 3.2-s 64x48 video with a stereo audio track: two streams, two channels, well over 1000 bytes.
    path = write_media(tmp_path / "clip.mp4", duration_s=3.2, size=(48, 64), channels=2)
    decode_clip(path, 4, 16000)  # accepted under the default limits
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 4, 16000, limits=limits)
    assert_media_error(excinfo, path, *fragments)


def test_default_limits_refuse_a_forged_frame_size(tmp_path: Path):
    # A real 8000x4400 stream (35 M pixels, above the 4K default); the refusal comes before any decoding.
    path = tmp_path / "huge.mkv"
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=1)
    stream.width, stream.height, stream.pix_fmt = 8000, 4400, "yuv420p"
    frame = av.VideoFrame(8000, 4400, "yuv420p")
    frame.pts = 0
    for packet in [*stream.encode(frame), *stream.encode(None)]:
        container.mux(packet)
    container.close()
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 1, 16000, allow_missing_audio=True)
    assert_media_error(excinfo, path, "8000x4400", "max_pixels")


def write_rotated_clip(path: Path, degrees: int, frames: int = 4) -> np.ndarray:
    """A 64x32 (width x height) h264 clip stored with a display rotation; returns the coded RGB picture."""
    picture = np.zeros((32, 64, 3), dtype=np.uint8)
    picture[:, :, 2] = 40
    picture[:12, :12] = (255, 255, 255)  # white corner, top left as coded
    picture[20:, 48:] = (255, 0, 0)  # red corner, bottom right as coded
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(degrees)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return picture


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_display_rotation_is_applied(tmp_path: Path, degrees: int):
    # Phone videos store the picture sideways plus how to turn it; frames must come out as a player shows them.
    path = tmp_path / f"rotated_{degrees}.mp4"
    picture = write_rotated_clip(path, degrees)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).rotation % 360 == degrees  # the file says what the test means
    # FFmpeg's display matrix turns the picture counter-clockwise; np.rot90 turns arrays counter-clockwise too.
    shown = np.rot90(picture, degrees // 90)
    clip = decode_clip(path, num_frames=2, sampling_rate=16000, allow_missing_audio=True)
    assert clip.frames.shape == (2, *shown.shape) and clip.source_size == shown.shape[:2]
    assert np.abs(clip.frames.astype(int) - shown).mean() < 8  # h264 loses a little
    # frame_size is the size as shown: an int is the shorter displayed side.
    scaled = decode_clip(path, num_frames=1, sampling_rate=16000, allow_missing_audio=True, frame_size=16)
    assert scaled.frames.shape[1:3] == ((16, 32) if degrees % 180 == 0 else (32, 16))
    white = np.argwhere(scaled.frames[0].min(axis=-1) > 200).mean(axis=0) / scaled.frames.shape[1:3]
    expected = np.argwhere(shown.min(axis=-1) > 200).mean(axis=0) / shown.shape[:2]
    np.testing.assert_allclose(white, expected, atol=0.1)  # the white corner is where a player shows it


class RecordingPolicy:
    """A `FrameSizePolicy` that records what it is shown and asks for a fixed size."""

    def __init__(self, probe: tuple[int, int] | None, chosen: tuple[int, int] | None) -> None:
        self.probe, self.chosen = probe, chosen
        self.calls: list[tuple[tuple[int, ...], tuple[int, int]]] = []
        self.probes: list[np.ndarray] = []

    def probe_size(self, source_size: tuple[int, int]) -> tuple[int, int] | None:
        return self.probe

    def choose(self, probe: np.ndarray, source_size: tuple[int, int]) -> tuple[tuple[int, int] | None, str]:
        self.calls.append((probe.shape, source_size))
        self.probes.append(probe)
        return self.chosen, f"basis {len(self.calls)}"


def test_a_frame_size_policy_chooses_each_reads_size_from_its_first_frame(tmp_path: Path):
    path = write_media(tmp_path / "clip.mp4", duration_s=4.0, size=(120, 160))
    policy = RecordingPolicy(probe=(30, 40), chosen=(60, 80))
    assert isinstance(policy, FrameSizePolicy)
    clip = decode_clip(path, num_frames=5, sampling_rate=8000, frame_size=policy)
    # Asked once, shown the first frame at the probe size (with the size as displayed); every frame at its answer.
    assert policy.calls == [((30, 40, 3), (120, 160))]
    assert clip.frames.shape == (5, 60, 80, 3) and clip.source_size == (120, 160)
    assert clip.frame_size_basis == "basis 1"  # what the choice was based on comes back with the frames
    fixed = decode_clip(path, num_frames=5, sampling_rate=8000, frame_size=(60, 80))
    np.testing.assert_array_equal(clip.frames, fixed.frames)  # the first frame converted again, not resized
    # A choice of None keeps the full size; each window of a long file asks again.
    windows = list(iter_windows(path, 2.0, 2.0, 3, 8000, frame_size=RecordingPolicy((30, 40), None)))
    assert [w.frames.shape for w in windows] == [(3, 120, 160, 3)] * 2
    counted = RecordingPolicy((120, 160), (30, 40))
    windows = list(iter_windows(path, 2.0, 2.0, 3, 8000, frame_size=counted))
    assert len(windows) == len(counted.calls) == 2
    assert [w.frame_size_basis for w in windows] == ["basis 1", "basis 2"]
    assert counted.calls[0] == ((120, 160, 3), (120, 160))
    # A probe size of None skips the probe: no choice asked, full-size frames.
    skipped = RecordingPolicy(None, (30, 40))
    clip = decode_clip(path, 3, 8000, frame_size=skipped)
    assert clip.frames.shape == (3, 120, 160, 3) and not skipped.calls and clip.frame_size_basis is None


@pytest.mark.parametrize("degrees", [90, 270])
def test_a_frame_size_policy_sees_rotated_frames_as_shown(tmp_path: Path, degrees: int):
    path = tmp_path / f"rotated_{degrees}.mp4"
    write_rotated_clip(path, degrees)
    policy = RecordingPolicy(probe=(16, 8), chosen=(24, 12))
    clip = decode_clip(path, num_frames=2, sampling_rate=16000, allow_missing_audio=True, frame_size=policy)
    assert policy.calls == [((16, 8, 3), (64, 32))]  # shown upright: 64 high, 32 wide
    probe = decode_clip(path, num_frames=2, sampling_rate=16000, allow_missing_audio=True, frame_size=(16, 8))
    np.testing.assert_array_equal(policy.probes[0], probe.frames[0])  # the probe is upright too
    fixed = decode_clip(path, num_frames=2, sampling_rate=16000, allow_missing_audio=True, frame_size=(24, 12))
    np.testing.assert_array_equal(clip.frames, fixed.frames)


# --- the default limits, at their boundaries ------------------------------------------------------------


def write_sparse_video(path: Path, last_s: int, streams: int = 1, width: int = 16, height: int = 16) -> Path:
    """A tiny file whose headers say what a limit reads: a frame at 0 s and one at `last_s`, per stream."""
    with av.open(str(path), "w") as container:
        added = [container.add_stream("mpeg4", rate=1) for _ in range(streams)]
        for stream in added:
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1)
        for stream in added:
            for pts in (0, last_s):
                frame = av.VideoFrame(width, height, "yuv420p")
                frame.pts = pts
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def test_default_limits_have_the_documented_values():
    limits = MediaLimits()
    assert limits.max_duration_s == 30 * 60
    assert limits.max_pixels == 4096 * 2160
    assert limits.max_streams == 32
    assert limits.max_audio_channels == 32
    assert limits.max_file_bytes == 8 * 1024**3


@pytest.mark.parametrize(
    ("name", "accepted", "refused", "fragments"),
    [
        ("duration", dict(last_s=1798), dict(last_s=1801), ["lasts 1802.0 s", "max_duration_s=1800"]),
        ("streams", dict(last_s=1, streams=32), dict(last_s=1, streams=33), ["33 streams", "max_streams=32"]),
        (
            "pixels",
            dict(last_s=1, width=4096, height=2160),
            dict(last_s=1, width=4096, height=2176),
            ["4096x2176", "max_pixels=8847360"],
        ),
    ],
)
def test_default_limits_accept_just_below_and_refuse_just_above(tmp_path: Path, name, accepted, refused, fragments):
    inside = write_sparse_video(tmp_path / f"{name}_inside.mkv", **accepted)
    outside = write_sparse_video(tmp_path / f"{name}_outside.mkv", **refused)
    assert probe_media(inside).has_video  # no limits argument: the defaults
    with pytest.raises(MediaError) as excinfo:
        probe_media(outside)
    assert_media_error(excinfo, outside, *fragments)


def test_default_audio_channel_limit_accepts_32_and_refuses_33(tmp_path: Path):
    paths = {}
    for channels in (32, 33):
        paths[channels] = tmp_path / f"channels_{channels}.wav"
        with wave.open(str(paths[channels]), "wb") as handle:
            handle.setnchannels(channels)
            handle.setsampwidth(2)
            handle.setframerate(8000)
            handle.writeframes(np.zeros((800, channels), dtype=np.int16).tobytes())
    assert probe_media(paths[32]).audio_channels == 32
    with pytest.raises(MediaError) as excinfo:
        probe_media(paths[33])
    assert_media_error(excinfo, paths[33], "33 channels", "max_audio_channels=32")
