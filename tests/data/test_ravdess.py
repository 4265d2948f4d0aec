from pathlib import Path

import pytest

from av_emotion.data.corpus import CorpusBuildError, build_corpus
from av_emotion.data.folds import FOLD_PROTOCOLS, split_by_fold
from av_emotion.data.labels import RAVDESS_LABELS
from av_emotion.data.ravdess import build_ravdess, build_synthetic_corpus, parse_ravdess_name
from tests.data.fake_media import write_clip


def ravdess_name(emotion: int, actor: int, *, modality: int = 1, channel: int = 1, rep: int = 1) -> str:
    intensity = 1 if emotion == 1 else 2
    return f"{modality:02d}-{channel:02d}-{emotion:02d}-{intensity:02d}-01-{rep:02d}-{actor:02d}.mp4"


@pytest.fixture(scope="module")
def fake_ravdess(tmp_path_factory) -> Path:
    """24 actors in Actor_XX folders, one full-AV speech clip each (emotion cycling through the 8),
    plus files the builder must ignore (video-only, song, audio-only wav, a foreign name) and
    ones it must report (a corrupt mp4, a clip without audio)."""
    root = tmp_path_factory.mktemp("ravdess")
    for actor in range(1, 25):
        emotion = (actor - 1) % 8 + 1
        write_clip(root / f"Actor_{actor:02d}" / ravdess_name(emotion, actor), seed=actor)
    write_clip(root / "Actor_01" / ravdess_name(3, 1, modality=2), audio=False)  # video-only: ignored
    write_clip(root / "Actor_01" / ravdess_name(3, 1, channel=2))  # song: ignored by default
    write_clip(root / "Actor_01" / "03-01-03-01-01-01-01.wav")  # audio-only modality, not an mp4
    write_clip(root / "Actor_02" / "notes.mp4")  # not a RAVDESS name
    (root / "Actor_03" / ravdess_name(5, 3, rep=2)).write_bytes(b"\x00" * 2048)  # corrupt
    write_clip(root / "Actor_04" / ravdess_name(6, 4, rep=2), audio=False)  # full-AV name, no audio
    return root


def test_parse_name_fields():
    name = parse_ravdess_name("/x/01-01-03-02-01-02-05.mp4")
    assert (name.modality, name.vocal_channel, name.emotion, name.intensity) == (1, 1, 3, 2)
    assert (name.statement, name.repetition, name.actor) == (1, 2, 5)
    assert name.label == "happy" and name.gender == "male"
    assert parse_ravdess_name("01-01-07-01-01-01-12").gender == "female"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("01-01-03-01.mp4", "not a RAVDESS name"),
        ("01-01-09-01-01-01-05.mp4", "emotion"),
        ("04-01-03-01-01-01-05", "modality"),
    ],
)
def test_parse_name_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_ravdess_name(bad)


def test_builder_labels_actors_and_report(fake_ravdess):
    dataset, report = build_ravdess(fake_ravdess, num_workers=2)
    assert len(dataset) == 24 and report.kept == 24
    label_names = dataset.features["label"].names
    assert label_names == list(RAVDESS_LABELS)
    for row in dataset:
        name = parse_ravdess_name(row["video"])
        assert row["speaker"] == name.actor == int(Path(row["video"]).parent.name.split("_")[1])
        assert label_names[row["label"]] == RAVDESS_LABELS[(row["speaker"] - 1) % 8]
        assert row["audio"] is None and Path(row["video"]).is_file()
    # Unusable matching files are reported with a reason, never silently dropped.
    skipped = {Path(item.path).name: item.reason for item in report.skipped}
    assert set(skipped) == {ravdess_name(5, 3, rep=2), ravdess_name(6, 4, rep=2)}
    assert "not a media file" in skipped[ravdess_name(5, 3, rep=2)]
    assert skipped[ravdess_name(6, 4, rep=2)] == "no audio stream"
    assert report.found == 26
    ignored = {Path(path).name for path in report.ignored}
    # The audio-only wav is found but not selected by the default `modality="full_av"`.
    assert ignored == {
        ravdess_name(3, 1, modality=2),
        ravdess_name(3, 1, channel=2),
        "notes.mp4",
        "03-01-03-01-01-01-01.wav",
    }
    assert "skipped" in report.summary() and ravdess_name(5, 3, rep=2) in report.summary()


def test_builder_raise_mode_lists_problems(fake_ravdess):
    with pytest.raises(CorpusBuildError, match="on_error='skip'") as error:
        build_ravdess(fake_ravdess, on_error="raise", num_workers=1)
    assert ravdess_name(5, 3, rep=2) in str(error.value)


def test_builder_selection_and_registry(fake_ravdess):
    dataset, _ = build_corpus("ravdess", fake_ravdess, vocal_channel="song", check_media=False)
    assert dataset["vocal_channel"] == ["song"] and dataset["speaker"] == [1]
    dataset, _ = build_ravdess(fake_ravdess, actors=(1, 2), check_media=False)
    assert sorted(dataset["speaker"]) == [1, 2]


def test_empty_or_missing_root(tmp_path):
    with pytest.raises(CorpusBuildError, match="does not exist"):
        build_ravdess(tmp_path / "nope")
    with pytest.raises(CorpusBuildError, match="no usable ravdess clips"):
        build_ravdess(tmp_path)


@pytest.mark.parametrize("protocol", ["ravdess_6fold", "ravdess_5fold_4_4_16"])
def test_folds_on_built_corpus(fake_ravdess, protocol):
    dataset, _ = build_ravdess(fake_ravdess, check_media=False)
    for fold in FOLD_PROTOCOLS[protocol].folds:
        splits = split_by_fold(dataset, fold)
        speakers = {name: set(split["speaker"]) for name, split in splits.items()}
        assert speakers["test"] == set(fold.test)
        assert speakers["train"] == set(fold.train)
        assert speakers.get("validation", set()) == set(fold.validation)
        names = list(speakers)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                assert not speakers[first] & speakers[second]
        assert sum(len(split) for split in splits.values()) == len(dataset)


def test_real_ravdess_samples(shared_data):
    dataset, report = build_ravdess(shared_data / "ravdess", num_workers=1)
    # 5 full-AV speech clips; the video-only mp4 and the two audio-only wavs are ignored, nothing skipped.
    assert len(dataset) == 5 and not report.skipped and len(report.ignored) == 3
    labels = sorted(dataset.features["label"].int2str(dataset["label"]))
    assert labels == ["fearful", "happy", "neutral", "sad", "surprised"]
    assert set(dataset["speaker"]) == {5}


def test_synthetic_corpus_from_names_and_metadata(tmp_path):
    import json

    root = tmp_path / "synth"
    clips = [ravdess_name(e, a) for a in (1, 2, 30) for e in (1, 5)]
    for index, name in enumerate(clips):
        write_clip(root / name, seed=index)
    lines = [{"path": name, "label": RAVDESS_LABELS[int(name[6:8]) - 1], "actor": int(name[-6:-4])} for name in clips]
    lines[0]["label"] = "calm"  # disagrees with its name: reported and left out
    lines.append({"path": ravdess_name(3, 2), "label": "happy", "actor": 2})  # listed, missing on disk
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    dataset, report = build_synthetic_corpus(root, num_workers=1)
    assert len(dataset) == 5 and set(dataset["speaker"]) == {1, 2, 30}
    assert set(dataset["corpus"]) == {"synthetic"}
    reasons = " ".join(item.reason for item in report.skipped)
    assert "missing" in reasons and "'calm'" in reasons
