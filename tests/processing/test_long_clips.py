"""Whole-clip decoding of a long file holds a bounded amount: the sampled frames, and at most `max_clip_duration_s`.

The memory figures themselves (peak RSS, 1-minute vs 10-minute video, every preset) come from
`benchmarks/memory.py`; these tests check the two mechanisms that keep them flat, on a 20-s generated file with a
5-s limit so they run in seconds: the frame reader converts only the frames it returns, and a range longer than
`max_clip_duration_s` is cut to its window at `clip_position`, with a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from av_emotion import AVEmotionProcessor, LongClipWarning
from av_emotion.processing import media
from av_emotion.processing.media import decode_clip
from tests.robustness.factory import AudioTrack, VideoTrack, frame_number, write_media

LENGTH_S = 20.0
FPS = 10
RATE = 16000
LIMIT_S = 5.0


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    return write_media(
        folder / "long.mp4",
        VideoTrack(size=(32, 48), fps=FPS, num_frames=int(LENGTH_S * FPS), options={"g": str(2 * FPS)}),
        [AudioTrack(rate=RATE)],
        duration_s=LENGTH_S,
    )


def test_the_frame_reader_keeps_only_the_sampled_frames(long_video, monkeypatch):
    converted = []
    original = media._FrameReader._to_array

    def counting(self, frame, frame_size):
        converted.append(float(frame.time))
        return original(self, frame, frame_size)

    monkeypatch.setattr(media._FrameReader, "_to_array", counting)
    clip = decode_clip(long_video, 8, RATE)
    # 8 of the file's 200 frames become arrays: the rest are decoded (or skipped by seeking) and dropped.
    assert len(converted) == 8 and clip.frames.shape[0] == 8
    want = np.floor((np.arange(8) + 0.5) * LENGTH_S / 8 * FPS + 1e-6).astype(int) % 19
    assert [frame_number(f) for f in clip.frames] == want.tolist()


def test_a_long_file_is_cut_to_max_clip_duration_s(long_video):
    processor = AVEmotionProcessor.from_preset("mocanu2023", do_face_crop=False, max_clip_duration_s=LIMIT_S)
    with pytest.warns(LongClipWarning, match="max_clip_duration_s=5"):
        clip = processor.load_clip(long_video)
    centre = (LENGTH_S - LIMIT_S) / 2
    assert (clip.start_s, clip.end_s) == (pytest.approx(centre), pytest.approx(centre + LIMIT_S))
    assert clip.audio.shape == (int(LIMIT_S * RATE),)
    assert (clip.frame_times >= centre - 1e-6).all() and (clip.frame_times < centre + LIMIT_S).all()
    # The same inputs as asking for that window.
    window = decode_clip(long_video, processor.num_frames, RATE, start_s=centre, end_s=centre + LIMIT_S)
    np.testing.assert_array_equal(clip.audio, window.audio)
    np.testing.assert_array_equal(clip.frame_times, window.frame_times)
    with pytest.warns(LongClipWarning):
        batch = processor(paths=[long_video])
    assert batch["input_features"].shape[-1] == processor.feature_extractor.num_frames_for(int(LIMIT_S * RATE))


def test_the_limit_follows_clip_position_and_can_be_lifted(long_video):
    start = AVEmotionProcessor.from_preset("synthetic", max_clip_duration_s=LIMIT_S, clip_position="start")
    with pytest.warns(LongClipWarning):
        clip = start.load_clip(long_video)
    assert (clip.start_s, clip.end_s) == (0.0, pytest.approx(LIMIT_S))
    unlimited = AVEmotionProcessor.from_preset("synthetic", max_clip_duration_s=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongClipWarning)
        clip = unlimited.load_clip(long_video)
    assert clip.audio.shape == (int(LENGTH_S * RATE),)


def test_short_files_and_fixed_windows_are_not_affected(long_video):
    # The default limit (60 s) is far above corpus clips; a preset with its own clip_duration_s never reaches it.
    default = AVEmotionProcessor.from_preset("synthetic")
    assert default.max_clip_duration_s == 60.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongClipWarning)
        assert default.load_clip(long_video).duration_s == pytest.approx(LENGTH_S)
        windowed = AVEmotionProcessor.from_preset("cpu_small", max_clip_duration_s=LIMIT_S)
        assert windowed.load_clip(long_video, do_face_crop=False).duration_s == pytest.approx(3.0)


def test_the_limit_is_a_saved_setting(tmp_path):
    from transformers import AutoProcessor

    AVEmotionProcessor.from_preset("mocanu2023", max_clip_duration_s=12.5).save_pretrained(tmp_path)
    assert AutoProcessor.from_pretrained(tmp_path).max_clip_duration_s == 12.5
    with pytest.raises(ValueError, match="max_clip_duration_s"):
        AVEmotionProcessor(max_clip_duration_s=0)
