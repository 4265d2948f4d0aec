from pathlib import Path

import pytest

from av_emotion.data.cremad import CREMAD_KNOWN_BROKEN, build_cremad, parse_cremad_name
from av_emotion.data.folds import FOLD_PROTOCOLS, split_by_fold
from av_emotion.data.labels import CREMAD_CODES, CREMAD_LABELS
from tests.data.fake_media import write_clip

# One clip per test block of the HiCMAE folds and per emotion code, so every fold has a test speaker.
SPEAKERS = (1001, 1018, 1019, 1040, 1060, 1073, 1091)


@pytest.fixture(scope="module")
def fake_cremad(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cremad")
    for index, speaker in enumerate(SPEAKERS):
        stem = f"{speaker}_DFA_{CREMAD_CODES[index % 6]}_XX"
        write_clip(root / "VideoFlash" / f"{stem}.flv", seed=index)
        write_clip(root / "AudioWAV" / f"{stem}.wav", video=False, seed=index)
    write_clip(root / "VideoFlash" / "1002_IEO_HAP_HI.flv")  # no WAV partner: reported
    write_clip(root / "AudioWAV" / "1003_IEO_SAD_LO.wav", video=False)  # no video partner: reported
    write_clip(root / "VideoFlash" / "1004_ITS_NEU_XX.flv")
    (root / "AudioWAV" / "1004_ITS_NEU_XX.wav").write_bytes(b"")  # empty WAV: reported
    write_clip(root / "VideoFlash" / f"{CREMAD_KNOWN_BROKEN[0]}.flv")
    write_clip(root / "AudioWAV" / f"{CREMAD_KNOWN_BROKEN[0]}.wav", video=False)
    write_clip(root / "VideoFlash" / "readme.flv")  # foreign name: ignored
    return root


def test_parse_name():
    name = parse_cremad_name("x/1001_DFA_ANG_XX.flv")
    assert (name.speaker, name.sentence, name.emotion_code, name.level, name.label) == (
        1001,
        "DFA",
        "ANG",
        "XX",
        "angry",
    )
    for bad, message in [
        ("1001_DFA_ANG", "not a CREMA-D"),
        ("1092_DFA_ANG_XX", "outside"),
        ("1001_DFA_XXX_XX", "emotion"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_cremad_name(bad)


def test_builder_pairs_video_and_wav(fake_cremad):
    dataset, report = build_cremad(fake_cremad, num_workers=2)
    assert len(dataset) == len(SPEAKERS)
    assert dataset.features["label"].names == list(CREMAD_LABELS)
    for row in dataset:
        video, audio = Path(row["video"]), Path(row["audio"])
        assert video.parent.name == "VideoFlash" and audio.parent.name == "AudioWAV" and video.stem == audio.stem
        name = parse_cremad_name(video)
        assert row["speaker"] == name.speaker and row["emotion_code"] == name.emotion_code
        assert CREMAD_LABELS[row["label"]] == name.label
    assert sorted(dataset["speaker"]) == sorted(SPEAKERS)
    skipped = {Path(item.path).name: item.reason for item in report.skipped}
    assert "no matching AudioWAV/1002_IEO_HAP_HI.wav" in skipped["1002_IEO_HAP_HI.flv"]
    assert "no matching VideoFlash" in skipped["1003_IEO_SAD_LO.wav"]
    assert "empty" in skipped["1004_ITS_NEU_XX.wav"]
    assert "broken" in skipped[f"{CREMAD_KNOWN_BROKEN[0]}.flv"]
    assert [Path(p).name for p in report.ignored] == ["readme.flv"]


def test_builder_keeps_known_broken_on_request(fake_cremad):
    dataset, _ = build_cremad(fake_cremad, skip_known_broken=False, check_media=False)
    assert CREMAD_KNOWN_BROKEN[0] in dataset["clip_id"]


def test_folds_on_built_corpus(fake_cremad):
    dataset, _ = build_cremad(fake_cremad, check_media=False)
    protocol = FOLD_PROTOCOLS["cremad_5fold"]
    for fold in protocol.folds:
        splits = split_by_fold(dataset, fold)
        test = set(splits["test"]["speaker"])
        assert test and test <= set(fold.test)
        seen = [set(split["speaker"]) for split in splits.values()]
        assert all(not a & b for i, a in enumerate(seen) for b in seen[i + 1 :])
    assert set(split_by_fold(dataset, protocol[4])["test"]["speaker"]) == {1073, 1091}


def test_real_cremad_samples_flat_folder(shared_data):
    # The shared samples are .flv files without a VideoFlash/AudioWAV split: audio comes from the flv.
    dataset, report = build_cremad(shared_data / "crema-d", num_workers=1)
    assert sorted(dataset["clip_id"]) == ["1001_DFA_ANG_XX", "1001_DFA_HAP_XX"]
    assert dataset["audio"] == [None, None] and not report.skipped
    assert sorted(dataset.features["label"].int2str(dataset["label"])) == ["angry", "happy"]
