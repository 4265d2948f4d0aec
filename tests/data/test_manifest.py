"""Generic CSV/JSONL manifests: path resolution, targets, errors naming file and line, missing-file report."""

import json

import pytest

from av_emotion.data.manifest import ManifestError, build_manifest_dataset

RAVDESS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


@pytest.fixture
def corpus(tmp_path):
    """A corpus folder with three small fake media files under clips/."""
    clips = tmp_path / "corpus" / "clips"
    clips.mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "c.wav"):
        (clips / name).write_bytes(b"\x00fake media")
    return tmp_path / "corpus"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_labels_resolves_paths_against_the_manifest_folder(corpus, tmp_path, monkeypatch):
    manifest = write(corpus / "train.csv", "path,label,speaker,note\nclips/a.mp4,happy,01,x\nclips/b.mp4,sad,02,y\n")
    monkeypatch.chdir(tmp_path)  # relative paths must not depend on the working directory
    dataset, report = build_manifest_dataset(manifest, label_names=RAVDESS)
    assert dataset.column_names == ["path", "label", "speaker", "note"]
    assert dataset["path"] == [str(corpus / "clips" / "a.mp4"), str(corpus / "clips" / "b.mp4")]
    assert dataset.features["label"].names == RAVDESS
    assert dataset["label"] == [2, 3]
    assert dataset["speaker"] == ["01", "02"] and dataset["note"] == ["x", "y"]
    assert report.rows_read == report.rows_kept == 2 and not report.problems


def test_jsonl_with_valence_arousal_and_separate_audio(corpus):
    rows = [
        {"path": "clips/a.mp4", "audio_path": "clips/c.wav", "valence": 0.5, "arousal": -0.25, "speaker": 7},
        {"path": str(corpus / "clips" / "b.mp4"), "valence": "-1", "arousal": 1, "speaker": "s2"},
    ]
    manifest = write(corpus / "va.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    dataset, _ = build_manifest_dataset(manifest)
    assert dataset.column_names == ["path", "audio_path", "valence", "arousal", "speaker"]
    assert dataset["audio_path"] == [str(corpus / "clips" / "c.wav"), None]
    assert dataset["valence"] == [0.5, -1.0] and dataset["arousal"] == [-0.25, 1.0]
    assert dataset.features["valence"].dtype == "float32"
    assert dataset["speaker"] == ["7", "s2"]


def test_missing_and_unreadable_files_are_reported(corpus):
    (corpus / "clips" / "empty.mp4").write_bytes(b"")
    (corpus / "clips" / "folder.mp4").mkdir()
    manifest = write(
        corpus / "m.csv",
        "path,label\nclips/a.mp4,happy\nclips/gone.mp4,sad\nclips/empty.mp4,sad\nclips/folder.mp4,calm\n",
    )
    dataset, report = build_manifest_dataset(manifest)
    assert dataset["label"] == ["happy"]
    assert report.rows_read == 4 and report.rows_kept == 1
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, "no such file"),
        (4, "empty file"),
        (5, "is a directory, not a media file"),
    ]
    assert "gone.mp4" in report.summary() and "1 of 4 rows kept" in report.summary()
    with pytest.raises(ManifestError, match=r"3 rows point to unusable files:\n  line 3: .*gone.mp4: no such file"):
        build_manifest_dataset(manifest, missing_files="error")


def test_no_usable_row_is_an_error(corpus):
    manifest = write(corpus / "m.csv", "path,label\nnope.mp4,happy\n")
    with pytest.raises(ManifestError, match="no usable row"):
        build_manifest_dataset(manifest)


@pytest.mark.parametrize(
    "text,message",
    [
        ("path,label\nclips/a.mp4,joyful\n", r"m.csv:2: unknown label 'joyful'"),
        ("path,label\nclips/a.mp4,happy\nclips/b.mp4,\n", r"m.csv:3: empty label"),
        ("path,label\nclips/a.mp4,happy,extra\n", r"m.csv:2: 3 fields for a header of 2"),
        ("path,label,speaker\nclips/a.mp4,happy\n", r"m.csv:2: fewer fields than the 3"),
        ("path,valence,arousal\nclips/a.mp4,0.1,high\n", r"m.csv:2: arousal must be a number, got 'high'"),
        ("path,valence,arousal\nclips/a.mp4,0.1,2.5\n", r"m.csv:2: arousal = 2.5 is outside \[-1.0, 1.0\]"),
        ("path,valence,arousal\nclips/a.mp4,nan,0\n", r"m.csv:2: valence must be finite"),
        ("path,valence\nclips/a.mp4,0.1\n", r"has 'valence' but not its pair"),
        ("file,label\nclips/a.mp4,happy\n", r"no 'path' column"),
        ("path,speaker\nclips/a.mp4,01\n", r"no target column"),
        ("path,label\n,happy\n", r"m.csv:2: empty or non-text 'path'"),
        ("", r"m.csv:1: empty manifest"),
    ],
)
def test_csv_errors_name_file_and_line(corpus, text, message):
    manifest = write(corpus / "m.csv", text)
    with pytest.raises(ManifestError, match=message):
        build_manifest_dataset(manifest, label_names=RAVDESS if "label" in text.split("\n")[0] else None)


def test_jsonl_errors_name_the_line(corpus):
    manifest = write(
        corpus / "m.jsonl", '{"path": "clips/a.mp4", "label": "happy"}\n\n{"path": "clips/b.mp4", label}\n'
    )
    with pytest.raises(ManifestError, match=r"m.jsonl:3: not valid JSON"):
        build_manifest_dataset(manifest)
    manifest = write(corpus / "m.jsonl", '["clips/a.mp4", "happy"]\n')
    with pytest.raises(ManifestError, match=r"m.jsonl:1: each line must be a JSON object"):
        build_manifest_dataset(manifest)


def test_value_range_can_be_disabled_and_unknown_formats_rejected(corpus):
    manifest = write(corpus / "m.csv", "path,valence,arousal\nclips/a.mp4,3,-4\n")
    dataset, _ = build_manifest_dataset(manifest, value_range=None)
    assert dataset["valence"] == [3.0]
    with pytest.raises(ManifestError, match="unknown manifest format '.txt'"):
        build_manifest_dataset(write(corpus / "m.txt", "path\n"))
    with pytest.raises(ManifestError, match="manifest not found"):
        build_manifest_dataset(corpus / "absent.csv")
    unlabelled = write(corpus / "u.csv", "path\nclips/a.mp4\n")
    assert build_manifest_dataset(unlabelled, require_targets=False).dataset.column_names == ["path"]
