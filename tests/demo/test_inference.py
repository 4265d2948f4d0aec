"""The demo's inference, without Gradio: the pipeline's scores, the crops the model saw, bad uploads, one at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from av_emotion.demo.inference import DEMO_LIMITS, MAX_WINDOWS, DemoModel, model_card_limitations, user_message
from av_emotion.processing.media import MediaError, window_bounds
from tests.demo.media import (
    write_8k_video,
    write_good_clip,
    write_text_renamed_mp4,
    write_two_hour_video,
    write_video_with_silent_track,
    write_wav,
)
from tests.pipelines.generated_media import write_video
from tests.pipelines.tiny_checkpoint import LABELS, save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("demo_tiny_model"))


@pytest.fixture(scope="module")
def model(checkpoint) -> DemoModel:
    return DemoModel(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo_media")


@pytest.fixture(scope="module")
def good_clip(media) -> Path:
    return write_good_clip(media / "good.mp4")


@pytest.fixture(scope="module")
def ravdess_video_only_clip_with_silent_track(shared_data) -> Path:
    """RAVDESS's video-only clip: its audio track holds digital silence (shared/data/README.md)."""
    path = shared_data / "ravdess" / "02-01-03-01-01-02-05.mp4"
    if not path.exists():
        pytest.skip(f"{path} is missing from the shared samples")
    return path


def test_scores_and_timeline_are_the_pipelines(model, good_clip):
    result = model.analyse(good_clip, window_s=3.0, stride_s=1.5)
    expected = model.pipeline(str(good_clip), window_s=3.0, stride_s=1.5)
    bounds = [value for entry in result.result["timeline"] for value in (entry["start"], entry["end"])]
    assert bounds == pytest.approx([value for window in window_bounds(4.0, 3.0, 1.5) for value in window])
    assert result.num_windows == 2
    for got, want in zip(result.result["timeline"], expected["timeline"]):
        assert [item["label"] for item in got["labels"]] == [item["label"] for item in want["labels"]]
        assert [item["score"] for item in got["labels"]] == pytest.approx([item["score"] for item in want["labels"]])
    top = result.top
    assert list(top) == [item["label"] for item in expected["aggregate"]]
    assert sorted(top) == sorted(LABELS) and sum(top.values()) == pytest.approx(1.0, abs=1e-5)
    rows = result.timeline_rows()
    assert len(rows) == 2 * len(LABELS)
    assert sorted({row["time"] for row in rows}) == pytest.approx([1.5, 2.5])
    assert result.used_video and result.used_audio and result.modalities == "video and audio"


def test_crops_are_the_frames_the_model_saw(model, good_clip):
    """The strip shows the processor's face crops (here centre crops: a gradient has no face), pixel for pixel."""
    result = model.analyse(good_clip, window_s=3.0, stride_s=1.5)
    processor = model.pipeline.processor
    cropper = processor.video_processor.face_cropper()
    expected = []
    for clip in processor.iter_clips(str(good_clip), window_s=3.0, stride_s=1.5):
        cropped = cropper(clip.frames)
        assert not cropped.face_found
        expected += list(cropped.crops)
    assert len(result.crops) == len(expected) == 2 * processor.num_frames
    for crop, want in zip(result.crops, expected):
        assert crop.image.dtype == np.uint8 and crop.image.shape == want.shape
        assert np.abs(crop.image.astype(int) - want.astype(int)).max() <= 1
    times = [crop.time_s for crop in result.crops]
    assert 0.0 < times[0] < times[processor.num_frames - 1] < 3.0 < times[-1] < 4.0
    assert all(crop.face_found is False and "no face" in crop.caption for crop in result.crops)
    assert result.windows_without_face == 2
    assert any("No face was found in 2 of 2 windows" in note for note in result.notes)
    strip = result.strip(5)
    assert len(strip) == 5 and strip[0] is result.crops[0] and strip[-1] is result.crops[-1]
    assert [crop.time_s for crop in strip] == sorted(crop.time_s for crop in strip)
    assert [crop.time_s for crop in result.strip(100)] == sorted(times)


def test_real_clip_finds_the_face(model, ravdess_av_clip):
    result = model.analyse(ravdess_av_clip)
    assert result.windows_without_face == 0 and not result.notes
    assert all(crop.face_found for crop in result.crops)
    assert result.modalities == "video and audio"


def test_silent_audio_track_is_reported(model, media):
    """Digital silence is a missing audio track (the processor's silence_threshold): the video branch runs alone."""
    path = write_video_with_silent_track(media / "muted.mkv")
    result = model.analyse(path)
    assert not result.used_audio and result.windows_with_silent_audio == result.num_windows == 2
    assert result.modalities == "video only (the audio track is silent)"
    assert any("The audio track is silent in 2 of 2 windows" in note for note in result.notes)
    assert all(entry["modalities"] == ["video"] for entry in result.result["timeline"])
    # The same scores as the pipeline told to ignore the audio.
    expected = model.pipeline(
        str(path), window_s=model.default_window_s, stride_s=model.default_stride_s, modalities=("video",)
    )
    assert result.top == pytest.approx({item["label"]: item["score"] for item in expected["aggregate"]})


def test_silent_audio_track_of_a_real_clip(model, ravdess_video_only_clip_with_silent_track):
    result = model.analyse(ravdess_video_only_clip_with_silent_track)
    assert not result.used_audio and result.windows_with_silent_audio == result.num_windows == 2
    assert result.modalities == "video only (the audio track is silent)"
    assert any("The audio track is silent in 2 of 2 windows" in note for note in result.notes)


def test_min_face_fraction_abstains_where_no_face(checkpoint, good_clip):
    strict = DemoModel(checkpoint, device="cpu", min_face_fraction=0.5)
    result = strict.analyse(good_clip, window_s=3.0, stride_s=1.5)  # a gradient: no face in any window
    assert all(entry["abstained"] for entry in result.result["timeline"])
    assert result.top == {} and any("No prediction in 2 of 2 windows" in note for note in result.notes)
    from av_emotion.demo.app import _status

    assert "no prediction" in _status(result, "good.mp4")


def test_sound_is_not_silence(model, good_clip):
    result = model.analyse(good_clip)
    assert result.windows_with_silent_audio == 0 and result.modalities == "video and audio"
    assert not any("silent" in note for note in result.notes)


def test_video_without_sound_and_audio_only(model, media):
    silent = write_video(media / "silent.mp4", 2.0, with_audio=False)
    result = model.analyse(silent)
    assert (result.used_video, result.used_audio) == (True, False)
    assert result.modalities == "video only (no audio track)"
    assert any("no audio track" in note for note in result.notes)
    assert sum(result.top.values()) == pytest.approx(1.0, abs=1e-5)
    audio = model.analyse(write_wav(media / "voice.wav"))
    assert (audio.used_video, audio.used_audio) == (False, True)
    assert audio.crops == [] and audio.modalities == "audio only (no video stream)"
    assert any("no video stream" in note for note in audio.notes)


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (write_text_renamed_mp4, "not a media file FFmpeg can read"),
        (write_two_hour_video, f"lasts 7201.0 s, above MediaLimits.max_duration_s={DEMO_LIMITS.max_duration_s:g}"),
        (write_8k_video, "frames are 7680x4320 = 33177600 pixels, above MediaLimits.max_pixels"),
    ],
)
def test_bad_uploads_get_the_processors_message_and_the_next_upload_works(model, media, good_clip, writer, expected):
    path = writer(media / f"bad_{writer.__name__}{'.mkv' if 'two_hour' in writer.__name__ else '.mp4'}")
    with pytest.raises(MediaError) as error:
        model.analyse(path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)
    shown = user_message(error.value, path, "upload.mp4")
    assert shown.startswith("upload.mp4: ") and str(path) not in shown and expected in shown
    assert "pass limits=" not in shown  # a visitor cannot pass arguments; the page says what they can do
    if "MediaLimits" in expected:
        assert "this demo accepts no more" in shown
    assert model.analyse(good_clip).num_windows == 2


def test_too_many_windows_is_refused_with_the_fix(model, good_clip):
    stride = 4.0 / (MAX_WINDOWS + 100)
    with pytest.raises(ValueError, match=f"above the demo's {MAX_WINDOWS}; choose a stride of at least 0.0"):
        model.analyse(good_clip, window_s=0.5, stride_s=stride)
    with pytest.raises(ValueError, match="window and stride must be positive"):
        model.check_upload(good_clip, 0.0, 1.0)


def test_one_inference_at_a_time(model, good_clip):
    """Two uploads at once both get an answer, and the model never runs two windows side by side."""
    pipe = model.pipeline
    original = pipe.forward
    state = {"running": 0, "most": 0}
    guard = threading.Lock()

    def counting_forward(chunk, **kwargs):
        with guard:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(0.05)  # widen the window in which an overlap would show
        try:
            return original(chunk, **kwargs)
        finally:
            with guard:
                state["running"] -= 1

    pipe.forward = counting_forward
    results = [None, None]
    try:
        threads = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, model.analyse(good_clip))) for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        pipe.forward = original
    assert all(result is not None and result.num_windows == 2 for result in results)
    assert state["most"] == 1


def test_limitations_come_from_the_model_card(model, tmp_path, monkeypatch):
    # A folder saved without a card: the card render_model_card would write, built in memory.
    assert "**Legal limits.**" in model.limitations and "EU AI Act" in model.limitations
    assert "## " not in model.limitations  # only that section, not the rest of the card
    card = tmp_path / "README.md"
    card.write_text(
        "# m\n\n## Limitations and risks\n\nOnly tested on cats.\n\n## Citation\n\nnone\n", encoding="utf-8"
    )
    assert model_card_limitations(tmp_path) == "Only tested on cats."
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    notice = model_card_limitations("someone/some-model")
    assert "`someone/some-model` has no limitations section" in notice and "never as" in notice


def test_regression_model_gives_valence_and_arousal_over_time(tmp_path, good_clip):
    from tests.pipelines.tiny_checkpoint import regression_model_types

    types = regression_model_types()
    if not types:
        pytest.skip("no registered architecture has a regression head")
    model = DemoModel(save_tiny_checkpoint(tmp_path, model_type=types[0], regression=True), device="cpu")
    assert model.labels == ["valence", "arousal"]
    result = model.analyse(good_clip, window_s=3.0, stride_s=1.5)
    expected = model.pipeline(str(good_clip), window_s=3.0, stride_s=1.5)
    assert result.is_regression and list(result.top) == ["valence", "arousal"]
    assert list(result.top.values()) == pytest.approx(
        [expected["aggregate"]["valence"], expected["aggregate"]["arousal"]]
    )
    rows = result.timeline_rows()
    assert [row["label"] for row in rows] == ["valence", "arousal"] * 2
    assert [row["score"] for row in rows[:2]] == pytest.approx(
        [expected["timeline"][0]["valence"], expected["timeline"][0]["arousal"]]
    )
