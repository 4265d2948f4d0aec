"""The pipeline says what the model saw: the share of frames with a face, the modalities used, and abstains."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

from av_emotion import NoFaceWarning, SilentAudioWarning
from av_emotion.processing.faces import FaceCropper
from tests.pipelines.generated_media import write_video
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

BRIGHT, DARK = 200, 30


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return pipeline(
        "audio-video-emotion", model=str(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), device="cpu"
    )


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    directory = save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_regression"), "joint_cross_attention", True)
    return pipeline("audio-video-emotion", model=str(directory), device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seen")
    bright = np.full((5, 48, 64, 3), BRIGHT, np.uint8)
    dark = np.full((5, 48, 64, 3), DARK, np.uint8)
    return {
        # 8 s at 5 fps: bright for 4 s, then dark for 4 s (the frames repeat cyclically over 10 frames = 2 s).
        "half": write_video(folder / "half.mp4", 8.0, frames=np.concatenate([bright] * 4 + [dark] * 4)),
        "wall": write_video(folder / "wall.mp4", 4.0, frames=np.full((1, 48, 64, 3), 128, np.uint8)),
        "muted": write_video(folder / "muted.mp4", 4.0, silent_audio=True),
    }


@pytest.fixture
def bright_frames_have_a_face(monkeypatch):
    """Stand in for the detector: a face in every bright frame, none in dark ones (the cascade finds none in
    flat frames, and a real face needs the shared samples)."""

    def detect(self, frame, near=None):
        if frame.mean() > (BRIGHT + DARK) / 2:
            return np.array([[8.0, 8.0, 40.0, 40.0]])
        return np.zeros((0, 4))

    monkeypatch.setattr(FaceCropper, "detect", detect)


def expected_fraction(classifier, clip) -> float:
    """Independent count: the share of the decoded sampled frames that are bright."""
    return float((clip.frames.reshape(len(clip.frames), -1).mean(1) > (BRIGHT + DARK) / 2).mean())


def test_whole_clip_details(classifier, media, bright_frames_have_a_face):
    path = str(media["half"])
    clip = classifier.processor.load_clip(path)
    expected = expected_fraction(classifier, clip)
    assert 0 < expected < 1
    plain = classifier(path)
    assert isinstance(plain, list)  # unchanged by default
    result = classifier(path, return_details=True)
    assert sorted(result) == ["abstained", "face_fraction", "labels", "modalities"]
    assert result["labels"] == plain
    assert result["face_fraction"] == pytest.approx(expected)
    assert result["modalities"] == ["video", "audio"] and result["abstained"] is False
    json.dumps(result)


def test_windows_report_each_window(classifier, media, bright_frames_have_a_face):
    path = str(media["half"])
    expected = [expected_fraction(classifier, clip) for clip in classifier.processor.iter_clips(path, 2.0, 2.0)]
    assert expected == [1.0, 1.0, 0.0, 0.0]
    with pytest.warns(NoFaceWarning, match="no face was found in 2 of 4 windows"):
        result = classifier(path, window_s=2.0)
    assert [entry["face_fraction"] for entry in result["timeline"]] == pytest.approx(expected)
    assert all(entry["modalities"] == ["video", "audio"] for entry in result["timeline"])
    assert result["face_fraction"] == pytest.approx(np.mean(expected)) and result["abstained"] is False
    assert not any(entry["abstained"] for entry in result["timeline"])


def test_abstains_below_min_face_fraction(classifier, media, bright_frames_have_a_face):
    path = str(media["half"])
    full = classifier(path, window_s=2.0)
    result = classifier(path, window_s=2.0, min_face_fraction=0.5)
    assert [entry["abstained"] for entry in result["timeline"]] == [False, False, True, True]
    assert [entry["labels"] == [] for entry in result["timeline"]] == [False, False, True, True]
    # The aggregate averages the windows that did not abstain.
    kept = full["timeline"][:2]
    mean = {item["label"]: np.mean([_score(e["labels"], item["label"]) for e in kept]) for item in full["aggregate"]}
    assert {item["label"]: item["score"] for item in result["aggregate"]} == pytest.approx(mean, abs=1e-6)
    assert result["abstained"] is False
    # Whole clip: half the frames have a face, so 0.5 keeps the prediction and 0.6 abstains.
    assert classifier(path, min_face_fraction=0.5)["abstained"] is False
    abstained = classifier(path, min_face_fraction=0.6)
    assert abstained["abstained"] is True and abstained["labels"] == []


def test_no_face_warns_and_abstains(classifier, media):
    path = str(media["wall"])  # a flat wall: the real cascade finds no face
    with pytest.warns(NoFaceWarning, match=f"{media['wall'].name}: no face was found in any of the 4 sampled frames"):
        result = classifier(path)
    assert isinstance(result, list) and len(result) == 8
    with pytest.warns(NoFaceWarning, match="no prediction is given"):
        result = classifier(path, min_face_fraction=0.25)
    assert result == {"labels": [], "face_fraction": 0.0, "modalities": ["video", "audio"], "abstained": True}
    with pytest.warns(NoFaceWarning, match="in any sampled frame of its 2 windows"):
        windows = classifier(path, window_s=2.0, min_face_fraction=0.25)
    assert windows["abstained"] is True and windows["aggregate"] == [] and windows["face_fraction"] == 0.0


def test_regression_abstains_with_none_values(regressor, media):
    with pytest.warns(NoFaceWarning):
        result = regressor(str(media["wall"]), min_face_fraction=0.5)
    assert result["valence"] is None and result["arousal"] is None and result["abstained"] is True
    with pytest.warns(NoFaceWarning):
        details = regressor(str(media["wall"]), return_details=True)
    assert isinstance(details["valence"], float) and details["face_fraction"] == 0.0


def test_silent_track_is_a_missing_modality(classifier, media):
    path = str(media["muted"])
    with pytest.warns(SilentAudioWarning, match="digital silence"):
        result = classifier(path, return_details=True)
    assert result["modalities"] == ["video"]
    forced = classifier(path, modalities=("video",), return_details=True)
    assert forced["modalities"] == ["video"] and forced["labels"] == result["labels"]
    with pytest.warns(SilentAudioWarning):
        windows = classifier(path, window_s=2.0)
    assert windows["modalities"] == ["video"] and all(e["modalities"] == ["video"] for e in windows["timeline"])
    audio_only = classifier(str(media["half"]), modalities=("audio",), return_details=True)
    assert audio_only["modalities"] == ["audio"] and audio_only["face_fraction"] is None


def test_batched_details_equal_one_by_one(classifier, media, bright_frames_have_a_face):
    path = str(media["half"])
    one = classifier(path, window_s=2.0, min_face_fraction=0.5)
    batched = classifier(path, window_s=2.0, min_face_fraction=0.5, batch_size=3)
    assert [e["face_fraction"] for e in batched["timeline"]] == [e["face_fraction"] for e in one["timeline"]]
    assert [e["abstained"] for e in batched["timeline"]] == [e["abstained"] for e in one["timeline"]]


def test_bad_settings_are_refused(classifier, media):
    with pytest.raises(ValueError, match=r"min_face_fraction must be a share of frames in \[0, 1\]"):
        classifier(str(media["half"]), min_face_fraction=2)
    with pytest.raises(ValueError, match="modalities must name"):
        classifier(str(media["half"]), modalities=("faces",))


def test_real_face_gives_no_warning(classifier, ravdess_av_clip):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoFaceWarning)
        result = classifier(str(ravdess_av_clip), min_face_fraction=0.5)
    assert result["face_fraction"] >= 0.9 and result["abstained"] is False and len(result["labels"]) == 8


def test_real_video_only_ravdess_clip(classifier, shared_data):
    path = shared_data / "ravdess" / "02-01-03-01-01-02-05.mp4"
    if not path.exists():
        pytest.skip(f"{path} is missing from the shared samples")
    with pytest.warns(SilentAudioWarning, match="digital silence"):
        result = classifier(str(path), return_details=True)
    assert result["modalities"] == ["video"] and result["face_fraction"] >= 0.9
    forced = classifier(str(path), modalities=("video",), return_details=True)
    assert forced == result


def _score(labels, label):
    return next(item["score"] for item in labels if item["label"] == label)


def test_dict_and_bytes_inputs_report_too(classifier, media):
    clip = classifier.processor.load_clip(str(media["half"]))
    item = {"video": clip.frames, "audio": clip.audio, "sampling_rate": clip.sampling_rate}
    with pytest.warns(NoFaceWarning, match="<decoded arrays>: no face"):
        both = classifier(item, return_details=True)
    assert both["modalities"] == ["video", "audio"] and both["face_fraction"] == 0.0
    video_only = classifier(item, modalities=("video",), return_details=True)
    assert video_only["modalities"] == ["video"]
    audio_only = classifier(item, modalities=("audio",), return_details=True)
    assert audio_only["modalities"] == ["audio"] and audio_only["face_fraction"] is None
    with pytest.warns(NoFaceWarning, match="bytes"):
        from_bytes = classifier(media["wall"].read_bytes(), return_details=True)
    assert from_bytes["face_fraction"] == 0.0
