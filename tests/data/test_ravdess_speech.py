"""RAVDESS audio-only speech (`03-01-*`): the official `.wav` layout, lossless `.flac` copies, mixed folders,
and audio-only clips through the collator and every architecture (the missing-video path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from av_emotion.data.collate import AVEmotionCollator
from av_emotion.data.corpus import CorpusBuildError
from av_emotion.data.folds import get_fold, split_by_fold
from av_emotion.data.labels import RAVDESS_LABELS
from av_emotion.data.ravdess import build_ravdess
from tests.data.fake_media import write_clip
from tests.modeling.tiny_configs import TINY_CONFIGS

OFFICIAL_ZIP_FOLDER = "Audio_Speech_Actors_01-24"


def speech_name(emotion: int, actor: int, suffix: str = ".wav", repetition: int = 1) -> str:
    """An official audio-only speech file name, `03-01-EE-01-01-RR-AA<suffix>`."""
    return f"03-01-{emotion:02d}-01-01-{repetition:02d}-{actor:02d}{suffix}"


def write_speech_corpus(root: Path, suffix: str) -> Path:
    """24 actors, one 0.5-s 48 kHz mono file each, in `Actor_NN/` folders; the tone's pitch encodes the emotion."""
    for actor in range(1, 25):
        emotion = (actor - 1) % 8 + 1
        write_clip(
            root / f"Actor_{actor:02d}" / speech_name(emotion, actor, suffix),
            video=False,
            seconds=0.5,
            sample_rate=48000,
            tone_hz=200.0 * emotion,
        )
    return root


@pytest.fixture(scope="module")
def official_wav(tmp_path_factory) -> Path:
    """The layout of the unzipped official `Audio_Speech_Actors_01-24.zip` (generated files)."""
    return write_speech_corpus(tmp_path_factory.mktemp("ravdess_speech") / OFFICIAL_ZIP_FOLDER, ".wav")


@pytest.fixture(scope="module")
def flac_copy(tmp_path_factory) -> Path:
    """The same recordings as lossless FLAC (the layout of `../shared/data/ravdess_speech`)."""
    return write_speech_corpus(tmp_path_factory.mktemp("ravdess_speech_flac"), ".flac")


def test_official_wav_layout(official_wav):
    dataset, report = build_ravdess(official_wav.parent, modality="audio_only", num_workers=1)
    assert len(dataset) == 24 and report.kept == 24 and not report.skipped and not report.ignored
    assert dataset["video"] == [None] * 24
    assert all(path.endswith(".wav") and Path(path).is_file() for path in dataset["audio"])
    assert dataset["speaker"] == list(range(1, 25))
    names = dataset.features["label"].int2str(dataset["label"])
    assert names == [RAVDESS_LABELS[(actor - 1) % 8] for actor in range(1, 25)]
    assert dataset["gender"][:2] == ["male", "female"]
    assert set(dataset["vocal_channel"]) == {"speech"}


def test_flac_copy_gives_the_same_dataset(official_wav, flac_copy):
    wav, _ = build_ravdess(official_wav, modality="audio_only", num_workers=1)
    flac, report = build_ravdess(flac_copy, modality="audio_only", num_workers=1)
    assert not report.skipped
    assert all(path.endswith(".flac") for path in flac["audio"])
    for column in ("clip_id", "label", "speaker", "gender", "intensity", "statement", "repetition"):
        assert wav[column] == flac[column]
    # Lossless: the processor gives the same features from either file.
    from av_emotion.processing import AVEmotionProcessor

    processor = AVEmotionProcessor.from_preset("cpu_small")
    rows = [wav[0], flac[0]]
    features = [
        AVEmotionCollator(processor=processor)([{**row, "label": row["label"]}])["input_features"] for row in rows
    ]
    assert features[0].shape[1] == 40
    torch.testing.assert_close(features[0], features[1], atol=1e-4, rtol=0)


def test_wav_and_flac_of_one_recording_are_kept_once(tmp_path, official_wav, flac_copy):
    shutil.copytree(official_wav, tmp_path / "mixed")
    shutil.copytree(flac_copy, tmp_path / "mixed", dirs_exist_ok=True)
    dataset, report = build_ravdess(tmp_path / "mixed", modality="audio_only", check_media=False)
    assert len(dataset) == 24 and len(set(dataset["clip_id"])) == 24
    assert len(report.skipped) == 24 and all("duplicate of" in item.reason for item in report.skipped)


def test_audio_only_mixed_with_audio_video_clips(tmp_path, official_wav):
    root = tmp_path / "ravdess"
    shutil.copytree(official_wav, root / "speech")
    av_clip = root / "video" / "Actor_01" / "01-01-05-01-01-01-01.mp4"
    write_clip(av_clip, seconds=0.5)
    # Names whose file type is not their modality's: an audio-only name on an mp4, a full-AV name on a wav.
    write_clip(root / "video" / "03-01-05-01-01-02-01.mp4", seconds=0.5)
    write_clip(root / "speech" / "01-01-05-01-01-02-01.wav", video=False, seconds=0.5)

    everything, report = build_ravdess(root, modality="all", num_workers=1)
    assert len(everything) == 25 and not report.skipped
    assert {Path(path).name for path in report.ignored} == {"03-01-05-01-01-02-01.mp4", "01-01-05-01-01-02-01.wav"}
    av_rows = [row for row in everything if row["video"] is not None]
    assert len(av_rows) == 1 and av_rows[0]["video"] == str(av_clip) and av_rows[0]["audio"] is None

    full_av, _ = build_ravdess(root, check_media=False)
    assert full_av["video"] == [str(av_clip)]
    audio_only, _ = build_ravdess(root, modality="audio_only", check_media=False)
    assert len(audio_only) == 24 and audio_only["video"] == [None] * 24


def test_unreadable_audio_file_is_reported(tmp_path):
    write_clip(tmp_path / speech_name(1, 1), video=False, seconds=0.5)
    (tmp_path / speech_name(2, 1, ".flac")).write_bytes(b"fLaC" + b"\x00" * 100)
    dataset, report = build_ravdess(tmp_path, modality="audio_only", num_workers=1)
    assert len(dataset) == 1
    assert [Path(item.path).name for item in report.skipped] == [speech_name(2, 1, ".flac")]
    with pytest.raises(CorpusBuildError, match=speech_name(2, 1, ".flac")):
        build_ravdess(tmp_path, modality="audio_only", on_error="raise", num_workers=1)


def test_unknown_modality_names_the_choices(official_wav):
    with pytest.raises(ValueError, match="'full_av'.*'audio_only'.*'all'"):
        build_ravdess(official_wav, modality="video_only")


def test_six_fold_protocol_on_audio_only_corpus(official_wav):
    dataset, _ = build_ravdess(official_wav, modality="audio_only", check_media=False)
    for index in range(6):
        splits = split_by_fold(dataset, get_fold("ravdess_6fold", index, validation_speakers=4))
        speakers = {name: set(split["speaker"]) for name, split in splits.items()}
        assert len(speakers["test"]) == 4 and len(speakers["validation"]) == 4 and len(speakers["train"]) == 16
        assert not (speakers["test"] & (speakers["train"] | speakers["validation"]))


# Per architecture: the processor settings that give its tiny config's input sizes.
_INPUTS = {
    "avt_ca": {"n_mels": 4, "num_frames": 4, "size": {"height": 16, "width": 16}},
    "joint_cross_attention": {"n_mels": 16, "num_frames": 4, "size": {"height": 16, "width": 16}},
    "av_metric_fusion": {"n_mels": 16, "num_frames": 4, "size": {"height": 32, "width": 32}},
}


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_audio_only_clips_through_collator_and_model(flac_copy, model_type):
    from av_emotion.processing import AVEmotionProcessor
    from av_emotion.training.config import ModelSection
    from av_emotion.training.factory import build_model

    dataset, _ = build_ravdess(flac_copy, modality="audio_only", check_media=False)
    processor = AVEmotionProcessor.from_preset("cpu_small", do_face_crop=False, **_INPUTS[model_type])
    rows = [dataset[index] for index in range(4)]
    batch = AVEmotionCollator(processor=processor)(rows)
    assert not batch["has_video"].any() and batch["has_audio"].all()
    # cpu_small pads audio to its 3-s window: the mask covers the 0.5 s of real sound.
    assert not batch["video_mask"].any() and batch["audio_mask"].any(dim=1).all()
    assert int(batch["audio_mask"][0].sum()) < batch["audio_mask"].shape[1]
    assert float(batch["pixel_values_videos"].abs().sum()) == 0.0
    assert batch["input_features"].shape[:2] == (4, _INPUTS[model_type]["n_mels"])
    torch.testing.assert_close(batch["labels"], torch.tensor([row["label"] for row in rows]))

    model = build_model(ModelSection(model_type=model_type, config=TINY_CONFIGS[model_type]), RAVDESS_LABELS).eval()
    names = ("pixel_values_videos", "video_mask", "input_features", "audio_mask", "labels")
    output = model(**{name: batch[name] for name in names})
    assert output.logits.shape == (4, len(RAVDESS_LABELS)) and torch.isfinite(output.loss)
    # The missing-video path: whatever the (masked) frames hold, or with no video inputs at all, same logits.
    noisy = {
        **{name: batch[name] for name in names},
        "pixel_values_videos": torch.randn_like(batch["pixel_values_videos"]),
    }
    torch.testing.assert_close(model(**noisy).logits, output.logits)
    dropped = model(input_features=batch["input_features"], audio_mask=batch["audio_mask"])
    torch.testing.assert_close(dropped.logits, output.logits)
    # Training reaches the audio branch.
    model.train()
    model(**{name: batch[name] for name in names}).loss.backward()
    grads = [p.grad for name, p in model.named_parameters() if "audio" in name and p.grad is not None]
    assert grads and any(float(grad.abs().sum()) > 0 for grad in grads)
