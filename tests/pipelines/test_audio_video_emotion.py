"""pipeline("audio-video-emotion") on generated videos (and one real RAVDESS clip), with tiny checkpoints.

Behaviour is checked on generated media (a synthetic talking face with a voice, written with PyAV), so these
tests run on a fresh machine; the real clip in ../shared/data is used only where the real format is the point.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import av_emotion
from av_emotion.pipelines import AudioVideoEmotionPipeline, collate_chunks
from av_emotion.processing.media import MediaError, decode_clip
from tests.pipelines.generated_media import write_talking_clip, write_video
from tests.pipelines.tiny_checkpoint import LABELS, regression_model_types, save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_classifier"))


@pytest.fixture(scope="module")
def classifier(checkpoint):
    return pipeline("audio-video-emotion", model=str(checkpoint), device="cpu")


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory) -> Path:
    """A generated 3.2-s audio-video clip (the length of a RAVDESS sentence)."""
    return write_talking_clip(tmp_path_factory.mktemp("talking") / "happy.mp4", 3.2)


@pytest.fixture(scope="module")
def clip_result(classifier, av_clip):
    """The pipeline's result on the generated clip, computed once."""
    return classifier(str(av_clip))


@pytest.fixture(scope="module")
def clip_decoded(classifier, av_clip) -> dict:
    """The generated clip decoded by the checkpoint's processor, as a dict input."""
    clip = classifier.processor.load_clip(str(av_clip))
    return {"video": clip.frames, "audio": clip.audio, "sampling_rate": clip.sampling_rate}


@pytest.fixture(scope="module")
def video_without_audio(tmp_path_factory, av_clip) -> Path:
    """The generated clip's own frames re-encoded with no audio track."""
    clip = decode_clip(av_clip, num_frames=16, sampling_rate=16000)
    return write_video(
        tmp_path_factory.mktemp("silent") / "no_audio.mp4", 3.0, fps=8, frames=clip.frames, with_audio=False
    )


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """A generated 60-s video, 64x48 at 5 fps with a 16 kHz AAC tone."""
    return write_video(tmp_path_factory.mktemp("long") / "sixty_seconds.mkv", 60.0)


def assert_label_distribution(result, labels=LABELS):
    assert [sorted(item) for item in result] == [["label", "score"]] * len(labels)
    assert sorted(item["label"] for item in result) == sorted(labels)  # every label exactly once
    scores = [item["score"] for item in result]
    assert scores == sorted(scores, reverse=True)
    assert math.isclose(sum(scores), 1.0, rel_tol=0, abs_tol=1e-5)
    assert all(0.0 <= score <= 1.0 for score in scores)


def by_label(result):
    return {item["label"]: item["score"] for item in result}


def test_registered_when_av_emotion_is_imported(classifier):
    assert "audio-video-emotion" in PIPELINE_REGISTRY.get_supported_tasks()
    assert isinstance(classifier, AudioVideoEmotionPipeline)
    assert av_emotion.AudioVideoEmotionPipeline is AudioVideoEmotionPipeline
    assert classifier.device == torch.device("cpu")


def test_every_label_once_sorted_summing_to_one(clip_result):
    assert_label_distribution(clip_result)
    json.dumps(clip_result)  # plain Python types only


def test_real_clip_gives_every_label_once_sorted_summing_to_one(classifier, ravdess_av_clip):
    """The real RAVDESS format (720p h264, 48 kHz AAC) through the whole pipeline."""
    result = classifier(str(ravdess_av_clip))
    assert_label_distribution(result)
    json.dumps(result)


def test_scores_equal_processor_plus_model_computed_by_hand(checkpoint, av_clip, clip_result):
    from av_emotion import AutoModelForAudioVideoClassification
    from av_emotion.processing import AVEmotionProcessor

    processor = AVEmotionProcessor.from_pretrained(checkpoint)
    model = AutoModelForAudioVideoClassification.from_pretrained(checkpoint).eval()
    inputs = processor(paths=[str(av_clip)], return_tensors="pt")
    with torch.no_grad():
        logits = model(
            pixel_values_videos=inputs["pixel_values_videos"],
            input_features=inputs["input_features"],
            video_mask=inputs["video_mask"],
            audio_mask=inputs["audio_mask"],
        ).logits[0]
    expected = dict(zip((model.config.id2label[i] for i in range(len(logits))), logits.softmax(-1).tolist()))
    assert by_label(clip_result) == pytest.approx(expected, abs=1e-6)


def test_top_k_and_function_to_apply(classifier, clip_decoded):
    full = classifier(clip_decoded)
    assert_label_distribution(full)
    top3 = classifier(clip_decoded, top_k=3)
    assert [item["label"] for item in top3] == [item["label"] for item in full[:3]]
    assert [item["score"] for item in top3] == pytest.approx([item["score"] for item in full[:3]])
    assert len(classifier(clip_decoded, top_k=100)) == len(LABELS)
    raw = by_label(classifier(clip_decoded, function_to_apply="none"))
    logits = torch.tensor([raw[item["label"]] for item in full])
    assert logits.softmax(-1).tolist() == pytest.approx([item["score"] for item in full], abs=1e-6)
    sigmoid = by_label(classifier(clip_decoded, function_to_apply="sigmoid"))
    assert sigmoid == pytest.approx({label: 1 / (1 + math.exp(-value)) for label, value in raw.items()}, abs=1e-6)
    with pytest.raises(ValueError, match="function_to_apply"):
        classifier(clip_decoded, function_to_apply="tanh")
    with pytest.raises(ValueError, match="top_k"):
        classifier(clip_decoded, top_k=0)


def test_batched_equals_one_by_one_for_clips_of_different_lengths(classifier, av_clip, tmp_path):
    paths = [str(av_clip), str(write_talking_clip(tmp_path / "angry.mp4", 3.5, actor=2, emotion="angry"))]
    paths.insert(1, str(write_video(tmp_path / "two_seconds.mp4", 2.0, fps=10)))
    paths.append(str(write_video(tmp_path / "five_seconds.mp4", 5.0, fps=10)))
    one_by_one = [classifier(path) for path in paths]
    batched = classifier(paths, batch_size=3)  # batches of 3 then 1; the first mixes 2.0, 3.2 and 3.5 s clips
    assert len(batched) == len(paths)
    for single, together in zip(one_by_one, batched):
        assert [item["label"] for item in together] == [item["label"] for item in single]
        assert [item["score"] for item in together] == pytest.approx([item["score"] for item in single], abs=1e-5)


def test_mixed_list_of_path_bytes_and_dict(classifier, av_clip, clip_result, clip_decoded):
    results = classifier([av_clip, av_clip.read_bytes(), clip_decoded], batch_size=2)
    assert len(results) == 3
    for result in results:
        assert_label_distribution(result)
        assert by_label(result) == pytest.approx(by_label(clip_result), abs=1e-5)


def test_dict_input_errors_name_the_fix(classifier):
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="allow_missing_audio=True"):
        classifier({"video": frames})
    with pytest.raises(ValueError, match="sampling_rate"):
        classifier({"video": frames, "audio": np.zeros(16000, dtype=np.float32)})
    with pytest.raises(ValueError, match="unknown keys"):
        classifier({"video": frames, "frames": frames})
    with pytest.raises(ValueError, match="unsupported input of type int"):
        classifier(3)


def test_video_without_audio_track_errors_by_default_and_runs_video_only_when_allowed(classifier, video_without_audio):
    with pytest.raises(MediaError) as error:
        classifier(str(video_without_audio))
    message = str(error.value)
    assert "no_audio.mp4" in message and "allow_missing_audio" in message
    result = classifier(str(video_without_audio), allow_missing_audio=True)
    assert_label_distribution(result)


def test_missing_file_and_non_media_errors_name_the_file(classifier, tmp_path):
    with pytest.raises(MediaError, match="does_not_exist.mp4"):
        classifier(str(tmp_path / "does_not_exist.mp4"))
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="notes.mp4"):
        classifier(str(text))


def expected_windows(duration, window, stride):
    """The documented rule, written independently: a grid of full windows, then one flush with the end."""
    starts = [k * stride for k in range(int((duration - window) // stride) + 1)]
    bounds = [(start, start + window) for start in starts]
    if bounds[-1][1] < duration - 1e-6:
        bounds.append((duration - window, duration))
    return bounds


@pytest.mark.parametrize("window, stride", [(4.0, 2.0), (7.0, 5.0)])
def test_timeline_of_a_sixty_second_video(classifier, long_video, window, stride):
    result = classifier(str(long_video), window_s=window, stride_s=stride)
    assert sorted(result) == ["abstained", "aggregate", "face_fraction", "modalities", "timeline"]
    expected = expected_windows(60.0, window, stride)
    assert len(result["timeline"]) == len(expected)  # 29 windows, or 11 plus a last one at 53-60 s
    for entry, (start, end) in zip(result["timeline"], expected):
        assert sorted(entry) == ["abstained", "end", "face_fraction", "labels", "modalities", "start"]
        assert entry["start"] == pytest.approx(start, abs=1e-3) and entry["end"] == pytest.approx(end, abs=1e-3)
        assert_label_distribution(entry["labels"])
    # The aggregate is the mean of the window probabilities, sorted.
    mean = {label: np.mean([_score(entry["labels"], label) for entry in result["timeline"]]) for label in LABELS}
    assert {item["label"]: item["score"] for item in result["aggregate"]} == pytest.approx(mean, abs=1e-6)
    assert_label_distribution(result["aggregate"])
    json.dumps(result)


def _score(labels, label):
    return next(item["score"] for item in labels if item["label"] == label)


def test_windowed_batches_hand_freed_memory_back_and_whole_clips_do_not(classifier, long_video, av_clip, monkeypatch):
    # glibc keeps the freed pages of each window's tensors on a fragmenting heap (RSS grew ~7 MiB a window on a
    # 10-min video; benchmarks/pipeline.py --parts memory): the pipeline trims after every windowed batch.
    from av_emotion.pipelines import audio_video_emotion

    calls = []
    monkeypatch.setattr(audio_video_emotion, "release_freed_memory", lambda: calls.append(1))
    classifier(str(long_video), window_s=10.0, stride_s=10.0)
    assert len(calls) == 6  # six 10-s windows, batch 1
    calls.clear()
    classifier(str(long_video), window_s=10.0, stride_s=10.0, batch_size=4)
    assert len(calls) == 2  # batches of 4 + 2 windows
    calls.clear()
    classifier(str(av_clip))
    assert calls == []


def test_release_freed_memory_runs_here():
    from av_emotion.pipelines.audio_video_emotion import _glibc_malloc_trim, release_freed_memory

    release_freed_memory()  # never raises, whatever the C library
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert _glibc_malloc_trim() is not None


def test_windows_batched_equal_unbatched_and_window_equals_decoded_range(classifier, long_video):
    single = classifier(str(long_video), window_s=10.0, stride_s=10.0, top_k=2)
    batched = classifier(str(long_video), window_s=10.0, stride_s=10.0, top_k=2, batch_size=4)
    assert [entry["start"] for entry in batched["timeline"]] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    for a, b in zip(single["timeline"], batched["timeline"]):
        assert [item["label"] for item in a["labels"]] == [item["label"] for item in b["labels"]]
        assert [item["score"] for item in a["labels"]] == pytest.approx(
            [item["score"] for item in b["labels"]], abs=1e-5
        )
    assert all(len(entry["labels"]) == 2 for entry in single["timeline"]) and len(single["aggregate"]) == 2
    # The third window's scores are the model's on the processor's third window (ordering and mapping).
    window = list(classifier.processor.iter_clips(str(long_video), window_s=10.0, stride_s=10.0))[2]
    inputs = classifier.processor.process_clips([window], return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(
            **{key: inputs[key] for key in ("pixel_values_videos", "input_features", "video_mask", "audio_mask")}
        ).logits[0]
    expected = dict(zip((classifier.model.config.id2label[i] for i in range(len(logits))), logits.softmax(-1).tolist()))
    assert by_label(single["timeline"][2]["labels"]) == pytest.approx(
        {item["label"]: expected[item["label"]] for item in single["timeline"][2]["labels"]}, abs=1e-6
    )


def test_video_shorter_than_the_window_gives_one_window(classifier, av_clip):
    result = classifier(av_clip.read_bytes(), window_s=10.0)
    assert len(result["timeline"]) == 1
    assert result["timeline"][0]["start"] == 0.0 and result["timeline"][0]["end"] == pytest.approx(3.2, abs=0.06)


def test_window_parameter_errors(classifier, av_clip):
    with pytest.raises(ValueError, match="stride_s=2 needs window_s"):
        classifier(str(av_clip), stride_s=2)
    with pytest.raises(ValueError, match="window_s must be a positive"):
        classifier(str(av_clip), window_s=0)
    with pytest.raises(ValueError, match="window_s needs a path or the bytes"):
        classifier(
            {"video": np.zeros((4, 8, 8, 3), np.uint8), "audio": np.zeros(100), "sampling_rate": 100}, window_s=1
        )
    with pytest.raises(TypeError, match="unknown parameters"):
        classifier(str(av_clip), windows=3)


def test_collate_pads_every_axis_and_masks_padding():
    short = {"input_features": torch.ones(1, 2, 3), "audio_mask": torch.ones(1, 3, dtype=torch.bool), "start": 0.0}
    long = {"input_features": torch.ones(1, 2, 5), "audio_mask": torch.ones(1, 5, dtype=torch.bool), "start": 1.0}
    batch = collate_chunks([short, long], feature_padding_value=-7.0)
    assert batch["input_features"].shape == (2, 2, 5)
    assert batch["input_features"][0, :, 3:].eq(-7.0).all() and batch["input_features"][0, :, :3].eq(1).all()
    assert batch["audio_mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch["start"] == [0.0, 1.0]


@pytest.mark.parametrize("model_type", regression_model_types())
def test_regression_checkpoint_gives_valence_and_arousal(tmp_path, model_type, av_clip, long_video):
    directory = save_tiny_checkpoint(tmp_path / model_type, model_type=model_type, regression=True)
    regressor = pipeline("audio-video-emotion", model=str(directory), device="cpu")
    assert regressor.is_regression
    result = regressor(str(av_clip))
    assert sorted(result) == ["arousal", "valence"]
    assert all(-1.0 <= value <= 1.0 for value in result.values())
    # Same numbers as the regression head itself (not a re-initialised classification head).
    from av_emotion import AutoModelForAudioVideoRegression

    model = AutoModelForAudioVideoRegression.from_pretrained(directory).eval()
    inputs = regressor.processor(paths=[str(av_clip)], return_tensors="pt")
    with torch.no_grad():
        valence, arousal = (
            model(**{key: inputs[key] for key in ("pixel_values_videos", "input_features", "video_mask", "audio_mask")})
            .logits[0]
            .tolist()
        )
    assert result == pytest.approx({"valence": valence, "arousal": arousal}, abs=1e-6)
    timeline = regressor(str(long_video), window_s=20.0)
    assert [sorted(entry) for entry in timeline["timeline"]] == [
        ["abstained", "arousal", "end", "face_fraction", "modalities", "start", "valence"]
    ] * 3
    assert timeline["aggregate"]["valence"] == pytest.approx(
        np.mean([entry["valence"] for entry in timeline["timeline"]]), abs=1e-6
    )


def test_loads_from_a_hub_repo_id_offline(tmp_path, checkpoint, clip_decoded, classifier):
    """A repo id resolves through the Hugging Face cache layout (no network: local_files_only)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-av-emotion"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in checkpoint.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    from_hub = pipeline(
        "audio-video-emotion",
        model="someone/tiny-av-emotion",
        device="cpu",
        local_files_only=True,
        model_kwargs={"cache_dir": str(tmp_path / "cache")},
    )
    assert by_label(from_hub(clip_decoded)) == pytest.approx(by_label(classifier(clip_decoded)))
