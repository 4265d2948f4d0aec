"""Digitally silent audio tracks are treated as missing; a file can be decoded as one modality only."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from av_emotion import AVEmotionProcessor, SilentAudioWarning
from av_emotion.processing.media import decode_clip
from tests.pipelines.generated_media import write_video


@pytest.fixture(scope="module")
def processor() -> AVEmotionProcessor:
    return AVEmotionProcessor.from_preset("cpu_small", num_frames=4, size={"height": 16, "width": 16})


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("silence")
    return {
        "silent_aac": write_video(folder / "muted.mp4", 3.0, silent_audio=True),
        "silent_pcm": write_video(folder / "muted.mkv", 3.0, silent_audio=True),
        "tone": write_video(folder / "tone.mp4", 3.0),
    }


@pytest.mark.parametrize("name", ["silent_aac", "silent_pcm"])
def test_a_track_of_zeros_is_a_missing_modality_with_a_warning(processor, media, name):
    path = media[name]
    assert np.abs(decode_clip(path, 2, 16000).audio).max() == 0.0  # the file really carries a track of zeros
    # No allow_missing_audio needed: the file has a track, and it is reported.
    with pytest.warns(
        SilentAudioWarning, match=f"{path.name}.*treated as missing.*modalities=\\('video',\\)"
    ) as caught:
        batch = processor(paths=[str(path)])
    assert len(caught) == 1
    assert batch["has_audio"].tolist() == [False] and not batch["audio_mask"].any()
    assert batch["has_video"].tolist() == [True] and batch["video_mask"].all()


def test_sound_is_kept(processor, media):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)
        batch = processor(paths=[str(media["tone"])])
    assert batch["has_audio"].tolist() == [True] and batch["audio_mask"].all()


def test_the_threshold_is_a_saved_setting(processor, media, tmp_path):
    quiet = AVEmotionProcessor.from_preset("cpu_small", num_frames=4, silence_threshold=None)
    batch = quiet(paths=[str(media["silent_pcm"])])  # the old behaviour, on request: the zeros are used as sound
    assert batch["has_audio"].tolist() == [True]
    # A threshold above the tone's peak (0.3) makes even the tone "silent": the peak is what is compared.
    loud = AVEmotionProcessor.from_preset("cpu_small", num_frames=4, silence_threshold=0.5)
    with pytest.warns(SilentAudioWarning, match="peak amplitude 0.3"):
        assert loud(paths=[str(media["tone"])])["has_audio"].tolist() == [False]
    loud.save_pretrained(tmp_path)
    assert AVEmotionProcessor.from_pretrained(tmp_path).silence_threshold == 0.5
    assert processor.silence_threshold == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="silence_threshold"):
        AVEmotionProcessor(silence_threshold=-1.0)


def test_windows_of_a_silent_track_warn_once(processor, media):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = list(processor.iter_clips(str(media["silent_pcm"]), 1.0, 0.5))
    assert len(clips) == 5 and not any(clip.has_audio for clip in clips) and all(c.silent_audio for c in clips)
    silent = [w for w in caught if issubclass(w.category, SilentAudioWarning)]
    assert len(silent) == 1 and "0.00-1.00 s" in str(silent[0].message)


def test_a_silent_track_without_video_is_refused(processor, tmp_path):
    from tests.demo.media import write_wav

    path = write_wav(tmp_path / "zeros.wav")
    quiet = tmp_path / "quiet.wav"
    import wave

    with wave.open(str(path)) as source, wave.open(str(quiet), "wb") as target:
        target.setparams(source.getparams())
        target.writeframes(b"\x00" * source.getnframes() * source.getsampwidth())
    with (
        pytest.warns(SilentAudioWarning),
        pytest.raises(ValueError, match="no video and its audio track is digital silence"),
    ):
        processor(paths=[str(quiet)], allow_missing_video=True)


def test_arrays_of_zeros_are_the_callers_choice(processor):
    batch = processor(videos=[np.zeros((4, 16, 16, 3), np.uint8)], audio=[np.zeros(16000)], sampling_rate=16000)
    assert batch["has_audio"].tolist() == [True]


@pytest.mark.parametrize(
    ("modalities", "has_video", "has_audio"), [(("video",), True, False), (("audio",), False, True)]
)
def test_a_file_forced_to_one_modality(processor, media, modalities, has_video, has_audio):
    clip = processor.load_clip(str(media["tone"]), modalities=modalities)
    assert (clip.has_video, clip.has_audio) == (has_video, has_audio)
    assert (clip.frames is None) != has_video and (clip.audio is None) != has_audio
    batch = processor(paths=[str(media["tone"])], modalities=modalities)  # no allow_missing_* needed
    assert batch["has_video"].tolist() == [has_video] and batch["has_audio"].tolist() == [has_audio]
    assert bool(batch["video_mask"].any()) == has_video and bool(batch["audio_mask"].any()) == has_audio
    windows = list(processor.iter_clips(str(media["tone"]), 1.0, 1.0, modalities=modalities))
    assert len(windows) == 3 and all((w.has_video, w.has_audio) == (has_video, has_audio) for w in windows)


def test_video_only_decoding_keeps_the_frames(processor, media):
    both = processor(paths=[str(media["tone"])])
    video = processor(paths=[str(media["tone"])], modalities="video")
    np.testing.assert_array_equal(both["pixel_values_videos"].numpy(), video["pixel_values_videos"].numpy())


def test_silent_track_forced_to_video_gives_no_warning(processor, media):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)
        batch = processor(paths=[str(media["silent_aac"])], modalities=("video",))
    assert batch["has_audio"].tolist() == [False]


def test_bad_modalities_are_refused(processor, media):
    with pytest.raises(ValueError, match=r"modalities must name one or both of \('video', 'audio'\)"):
        processor(paths=[str(media["tone"])], modalities=("face",))
    with pytest.raises(ValueError, match="modalities= selects the streams decoded from files"):
        processor(videos=[np.zeros((4, 16, 16, 3), np.uint8)], allow_missing_audio=True, modalities=("video",))


def test_the_real_video_only_ravdess_clip(processor, shared_data):
    path = shared_data / "ravdess" / "02-01-03-01-01-02-05.mp4"
    if not path.exists():
        pytest.skip(f"{path} is missing from the shared samples")
    with pytest.warns(SilentAudioWarning, match="digital silence"):
        batch = processor(paths=[str(path)])
    assert batch["has_audio"].tolist() == [False] and batch["has_video"].tolist() == [True]
    speech = shared_data / "ravdess" / "01-01-03-01-01-02-05.mp4"
    if speech.exists():  # a real speech clip keeps its audio
        assert processor(paths=[str(speech)])["has_audio"].tolist() == [True]
