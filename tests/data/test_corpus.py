from pathlib import Path

import pytest

from av_emotion.data.corpus import available_corpora, build_corpus, check_media_file
from av_emotion.processing.media import MediaLimits
from tests.data.fake_media import write_clip


def test_registry_names():
    assert set(available_corpora()) == {"affwild2", "ravdess", "cremad", "synthetic", "manifest"}
    with pytest.raises(ValueError, match="unknown corpus 'iemocap'"):
        build_corpus("iemocap", "/tmp")


def test_manifest_through_registry_uses_recipe_columns(tmp_path):
    write_clip(tmp_path / "clips" / "a.mp4", seed=1)
    write_clip(tmp_path / "clips" / "b.mp4", seed=2)
    write_clip(tmp_path / "audio" / "b.wav", video=False)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,audio_path,label,speaker\n"
        "clips/a.mp4,,happy,s1\n"
        "clips/b.mp4,audio/b.wav,angry,s2\n"
        "clips/missing.mp4,,sad,s3\n"
    )
    dataset, report = build_corpus("manifest", manifest, label_set="ravdess")
    assert [Path(p).name for p in dataset["video"]] == ["a.mp4", "b.mp4"]
    assert dataset["audio"][0] is None and Path(dataset["audio"][1]).name == "b.wav"
    assert dataset.features["label"].int2str(dataset["label"]) == ["happy", "angry"]
    assert dataset["speaker"] == ["s1", "s2"]
    assert report.kept == 2 and len(report.skipped) == 1 and "missing.mp4" in report.skipped[0].path


@pytest.mark.parametrize(
    "make, need_video, reason",
    [
        (lambda p: write_clip(p.with_suffix(".mp4")), True, None),
        (lambda p: write_clip(p.with_suffix(".mp4"), audio=False), True, "no audio stream"),
        (lambda p: write_clip(p.with_suffix(".wav"), video=False), True, "no video stream"),
        (lambda p: write_clip(p.with_suffix(".wav"), video=False), False, None),
        (lambda p: (p.with_suffix(".mp4").write_bytes(b""), p.with_suffix(".mp4"))[1], True, "file is empty"),
        (
            lambda p: (p.with_suffix(".mp4").write_bytes(b"junk" * 100), p.with_suffix(".mp4"))[1],
            True,
            "not a media file",
        ),
    ],
)
def test_check_media_file(tmp_path, make, need_video, reason):
    path = make(tmp_path / "clip")
    result = check_media_file(path, need_video=need_video)
    assert (result is None) if reason is None else (reason in result)
    assert check_media_file(tmp_path / "nope.mp4") == "no such file"
    if result is not None:
        assert not result.startswith(str(path))  # the report names the file; the reason does not repeat it


def test_check_media_file_applies_the_processor_limits(tmp_path):
    path = write_clip(tmp_path / "clip.mp4")
    assert check_media_file(path) is None
    # The same bounds the processor decodes with: a file it would refuse is reported at build time.
    reason = check_media_file(path, limits=MediaLimits(max_pixels=16 * 16))
    assert reason is not None and "MediaLimits.max_pixels=256" in reason
    reason = check_media_file(path, limits=MediaLimits(max_duration_s=0.1))
    assert reason is not None and "MediaLimits.max_duration_s" in reason
