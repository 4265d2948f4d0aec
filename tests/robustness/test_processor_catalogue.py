"""Every catalogue case through `AVEmotionProcessor`: files in, model inputs out.

Two presets: `"synthetic"` (whole clip, frames resized, no face crop) and `"cpu_small"` (3-s centred window, fixed
audio length, face crop: the catalogue's flat grey frames hold no face, so the fallback centre crop is used). An
error case must raise the same `MediaError` as decoding; a result case must give tensors of the documented shapes,
finite, with each frame's pixels equal to the normalised grey level that was written and the audio mask covering
exactly the decoded audio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torchaudio

from av_emotion.processing.presets import PROCESSOR_PRESETS
from tests.robustness.catalogue import CASES, Case, Expected
from tests.robustness.checks import assert_media_error, frames_on_screen, sampled_times
from tests.robustness.conftest import PRESETS
from tests.robustness.factory import level

RATE = 16000  # both presets
HOP = 160  # 10 ms at 16 kHz, both presets


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else []) for case in cases]


def tone_band(n_mels: int, n_fft: int, frequency: float) -> int:
    """The mel band (HTK scale, as the presets) whose filter weighs `frequency` most."""
    banks = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, RATE / 2, n_mels, RATE, mel_scale="htk")
    return int(banks[round(frequency * n_fft / RATE)].argmax())


def assert_model_inputs(
    batch: dict[str, np.ndarray], expected: Expected, preset: str, start: float, end: float
) -> None:
    settings = PROCESSOR_PRESETS[preset]
    video, audio = settings["video_processor"], settings["feature_extractor"]
    num_frames, height, width = video["num_frames"], video["size"]["height"], video["size"]["width"]
    window = settings["processor"]["clip_duration_s"]
    if window is not None and end - start > window:  # the centred window of `clip_duration_s` seconds
        start, end = start + (end - start - window) / 2, start + (end - start + window) / 2
    pixels = batch["pixel_values_videos"]
    assert pixels.shape == (1, num_frames, 3, height, width) and pixels.dtype == np.float32
    assert np.isfinite(pixels).all()
    assert batch["video_mask"].shape == (1, num_frames) and batch["has_video"].tolist() == [expected.has_video]
    if expected.has_video:
        assert batch["video_mask"].all()
        written = frames_on_screen(expected.frame_times_s, sampled_times(num_frames, start, end))
        mean, std = np.asarray(video["image_mean"]), np.asarray(video["image_std"])
        for index, frame in zip(written, pixels[0]):
            want = (level(int(index)) / 255.0 - mean) / std  # (3,): flat grey, normalised per channel
            # Lossy codecs move a level by up to 4 of 255.
            assert np.abs(frame - want[:, None, None]).max() <= 4 / 255 / std.min() + 1e-4, f"{preset}: frame {index}"
    else:
        assert not batch["video_mask"].any() and not pixels.any()
    features, mask = batch["input_features"], batch["audio_mask"]
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert features.shape[:2] == (1, audio["n_mels"]) and mask.shape == (1, features.shape[2])
    assert batch["has_audio"].tolist() == [expected.has_audio]
    if expected.has_audio:
        samples = int(round((end - start) * RATE))
        assert int(mask.sum()) == 1 + samples // HOP, f"{preset}: audio mask covers {int(mask.sum())} frames"
        assert mask[0, : int(mask.sum())].all()
        valid = features[0][:, mask[0]]
        if end - start >= 0.3 and (expected.audio_end_s or end) - start >= 0.3:
            assert int(valid.mean(axis=1).argmax()) == pytest.approx(
                tone_band(audio["n_mels"], audio["n_fft"], expected.audio_frequency), abs=1
            ), f"{preset}: the loudest band is not the tone's"
    else:
        assert not mask.any() and not features.any()
    if "face_found" in batch:
        assert batch["face_found"].tolist() == [False]  # flat grey frames: the centre-crop fallback


@pytest.mark.parametrize("case", params(CASES))
def test_processor(case: Case, case_file, case_outcomes):
    path = case_file(case)
    outcomes = case_outcomes(case)
    results = outcomes["processor"]
    if case.tail is not None:
        # Both presets decode the whole 2-s file here: same outcome as decode_clip, masks over what remains.
        decoded = outcomes["media"]["decode"]
        for name in PRESETS:
            if decoded.error is not None:
                assert_media_error(results[name], path, case.error, name)
                continue
            assert results[name].error is None, f"{name} raised {results[name].error!r}"
            batch, clip = results[name].value, decoded.value
            assert batch["has_video"].tolist() == [clip.has_video] and batch["has_audio"].tolist() == [clip.has_audio]
            assert batch["video_mask"].all() == clip.has_video
            if clip.has_audio:
                kept = int(round((clip.truncated_streams.get("audio", clip.end_s) - clip.start_s) * RATE))
                assert int(batch["audio_mask"].sum()) == 1 + kept // HOP, f"{name}: audio mask"
            else:
                assert not batch["audio_mask"].any()
        return
    if case.error:
        for name in PRESETS:
            assert_media_error(results[name], path, case.error, name)
        return
    info = outcomes["media"]["probe"].value
    assert info is not None, f"probe_media raised {outcomes['media']['probe'].error!r}"
    for name in PRESETS:
        assert results[name].error is None, f"{name} raised {results[name].error!r}"
        assert_model_inputs(results[name].value, case.expected, name, info.start_s, info.end_s)
