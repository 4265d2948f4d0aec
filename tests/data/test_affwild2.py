"""Aff-Wild2-style builder on fake trees in the official layout: -5 frames skipped, windows, errors."""

import numpy as np
import pytest

from av_emotion.data.affwild2 import (
    build_affwild2_dataset,
    find_affwild2_videos,
    read_affwild2_annotation,
    subclip_targets,
)


def write_annotation(path, values, header="valence,arousal"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{v},{a}" for v, a in values]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def affwild2(tmp_path):
    """Official layout: videos in batch folders, annotations under VA_Estimation_Challenge/{Train,Validation}_Set."""
    root = tmp_path / "affwild2"
    (root / "batch1").mkdir(parents=True)
    (root / "batch2").mkdir()
    for name in ("batch1/1-30-1280x720.mp4", "batch1/video5.avi", "batch2/10-60-1280x720.mp4"):
        (root / name).write_bytes(b"fake")
    va = root / "annotations" / "VA_Estimation_Challenge"
    write_annotation(va / "Train_Set" / "1-30-1280x720.txt", [(0.1, 0.2), (-5, -5), (0.3, -0.4), (0.5, 0.6), (-5, -5)])
    write_annotation(va / "Train_Set" / "video5.txt", [(-1, 1)] * 3)
    write_annotation(va / "Validation_Set" / "10-60-1280x720_left.txt", [(0.0, 0.1), (0.2, 0.3)])
    write_annotation(va / "Validation_Set" / "10-60-1280x720_right.txt", [(-5, -5), (-0.2, -0.3)])
    return root


def test_one_row_per_video_with_invalid_frames_skipped(affwild2):
    dataset = build_affwild2_dataset(affwild2, "train")
    assert dataset["video_id"] == ["1-30-1280x720", "video5"]
    first = dataset[0]
    assert first["path"] == str((affwild2 / "batch1" / "1-30-1280x720.mp4").resolve())
    assert first["frame_index"] == [0, 2, 3]
    np.testing.assert_allclose(first["valence"], [0.1, 0.3, 0.5], atol=1e-7)
    np.testing.assert_allclose(first["arousal"], [0.2, -0.4, 0.6], atol=1e-7)
    assert (first["start_frame"], first["end_frame"]) == (0, 5)
    assert first["speaker"] == "1-30-1280x720"
    assert dataset[1]["valence"] == [-1.0, -1.0, -1.0]


def test_left_and_right_subjects_share_the_video(affwild2):
    dataset = build_affwild2_dataset(affwild2, "validation")
    assert dataset["video_id"] == ["10-60-1280x720_left", "10-60-1280x720_right"]
    assert dataset["path"][0] == dataset["path"][1] == str((affwild2 / "batch2" / "10-60-1280x720.mp4").resolve())
    assert dataset[1]["frame_index"] == [1]


def test_windows_cover_every_frame_and_drop_unannotated_ones(tmp_path):
    values = [(0.1 * (i % 10), 0.0) for i in range(10)]
    values[0:4] = [(-5, -5)] * 4  # the first window has no annotated frame
    write_annotation(tmp_path / "ann" / "v.txt", values)
    (tmp_path / "vid").mkdir()
    (tmp_path / "vid" / "v.mp4").write_bytes(b"x")
    dataset = build_affwild2_dataset(annotations_dir=tmp_path / "ann", videos_dir=tmp_path / "vid", window_frames=4)
    # Starts 0, 4 and, flush with the end, 6; the window at 0 holds only -5 frames.
    assert list(zip(dataset["start_frame"], dataset["end_frame"])) == [(4, 8), (6, 10)]
    assert dataset[0]["frame_index"] == [4, 5, 6, 7]
    overlapping = build_affwild2_dataset(
        annotations_dir=tmp_path / "ann", videos_dir=tmp_path / "vid", window_frames=4, window_stride=2
    )
    assert overlapping["start_frame"] == [2, 4, 6]
    short = build_affwild2_dataset(annotations_dir=tmp_path / "ann", videos_dir=tmp_path / "vid", window_frames=64)
    assert list(zip(short["start_frame"], short["end_frame"])) == [(0, 10)]


def test_subclip_targets_average_annotated_frames():
    row = {"start_frame": 8, "frame_index": [8, 9, 11, 14], "valence": [0.2, 0.4, 1.0, -1.0], "arousal": [0.0] * 4}
    targets = subclip_targets(row, num_subclips=4, frames_per_subclip=2)
    assert targets.shape == (4, 2) and targets.dtype == np.float32
    np.testing.assert_allclose(targets[0], [0.3, 0.0], atol=1e-6)  # frames 8, 9
    np.testing.assert_allclose(targets[1], [1.0, 0.0])  # frame 11 (10 unannotated)
    assert np.isnan(targets[2]).all()  # frames 12, 13: none annotated
    np.testing.assert_allclose(targets[3], [-1.0, 0.0])  # frame 14
    shifted = subclip_targets(row, num_subclips=1, frames_per_subclip=3, start_frame=9)
    np.testing.assert_allclose(shifted, [[0.7, 0.0]], atol=1e-6)  # frames 9, 10, 11: 9 and 11 annotated


def test_annotation_errors_name_file_and_line(tmp_path):
    path = tmp_path / "a.txt"
    write_annotation(path, [(0.1, 0.2)], header="arousal,valence")
    with pytest.raises(ValueError, match=r"a.txt:1: expected the header line 'valence,arousal'"):
        read_affwild2_annotation(path)
    path.write_text("valence,arousal\n0.1,0.2\n0.3\n")
    with pytest.raises(ValueError, match=r"a.txt:3: expected 'valence,arousal' \(two numbers\)"):
        read_affwild2_annotation(path)
    path.write_text("valence,arousal\n0.1,abc\n")
    with pytest.raises(ValueError, match=r"a.txt:2: expected two numbers"):
        read_affwild2_annotation(path)
    path.write_text("valence,arousal\n0.1,0.2\n1.5,0.0\n")
    with pytest.raises(ValueError, match=r"a.txt:3: values must be in \[-1, 1\] \(or -5"):
        read_affwild2_annotation(path)
    path.write_text("Valence, Arousal\n-5,-5\n0.5,-0.5\n\n")
    annotation = read_affwild2_annotation(path)
    assert annotation.frame_index.tolist() == [1] and annotation.num_frames == 2


def test_missing_videos_error_or_skip(affwild2):
    (affwild2 / "batch1" / "video5.avi").unlink()
    with pytest.raises(
        ValueError, match=r"1 annotation files .* have no video .*: video5.txt; pass missing_videos='skip'"
    ):
        build_affwild2_dataset(affwild2, "train")
    assert build_affwild2_dataset(affwild2, "train", missing_videos="skip")["video_id"] == ["1-30-1280x720"]


def test_layout_errors(affwild2, tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        build_affwild2_dataset(affwild2, "test")
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(ValueError, match="found none; pass annotations_dir"):
        build_affwild2_dataset(tmp_path / "empty_root")
    with pytest.raises(ValueError, match="pass root, or both annotations_dir and videos_dir"):
        build_affwild2_dataset(annotations_dir=tmp_path)
    (affwild2 / "batch2" / "video5.mp4").write_bytes(b"dup")
    with pytest.raises(ValueError, match="two videos named 'video5'"):
        find_affwild2_videos(affwild2)
