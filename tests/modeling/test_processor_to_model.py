"""`model(**processor(paths=[...]))` runs for every architecture and preset, and equals the pipeline's output.

A transformers user feeds a processor's output straight into the model. The processor returns flags
(`has_video`, `has_audio`, `face_found`) next to the tensors and masks; every forward accepts them. The tiny model
of each architecture is reshaped to read each preset's geometry (frame count, frame size, audio features), and the
clip is a real mp4 written with PyAV.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import pipeline

from av_emotion import ARCHITECTURES, PROCESSOR_PRESETS, AVEmotionProcessor
from av_emotion.processing.presets import describe_preset
from tests.modeling.tiny_configs import TINY_CONFIGS
from tests.pipelines.generated_media import write_video
from tests.pipelines.tiny_checkpoint import LABELS

MODEL_TYPES = sorted(ARCHITECTURES)
PRESETS = sorted(PROCESSOR_PRESETS)


def _split(frames: int) -> tuple[int, int]:
    """(steps, frames per step) for the snippet/sub-clip models: 2 steps when even, else 3."""
    steps = 2 if frames % 2 == 0 else 3
    assert frames % steps == 0, f"{frames} frames do not split into {steps} steps"
    return steps, frames // steps


def config_for_preset(model_type: str, preset: str):
    """The tiny config of `model_type`, reshaped to read what processor preset `preset` returns."""
    settings = describe_preset(preset)
    frames = settings["video_processor"]["num_frames"]
    size = settings["video_processor"]["size"]["height"]
    audio = settings["feature_extractor"]
    features = audio["n_mfcc"] if audio["feature_type"] == "mfcc" else audio["n_mels"]
    kwargs = dict(TINY_CONFIGS[model_type])
    kwargs.update(id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})
    if model_type == "avt_ca":
        kwargs.update(num_frames=frames, image_size=size, num_audio_features=features)
    elif model_type == "joint_cross_attention":
        steps, per_step = _split(frames)
        kwargs.update(num_subclips=steps, frames_per_subclip=per_step, image_size=size, num_mel_bins=features)
    elif model_type == "av_metric_fusion":
        steps, per_step = _split(frames)
        kwargs.update(num_snippets=steps, frames_per_snippet=per_step, num_mel_bins=features)
    else:
        raise AssertionError(f"{model_type}: say in config_for_preset how it reads a preset's geometry")
    return ARCHITECTURES[model_type].config_class(**kwargs)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "av": write_video(folder / "av.mp4", duration_s=2.4, fps=10),
        "video_only": write_video(folder / "video_only.mp4", duration_s=2.4, fps=10, with_audio=False),
    }


def _model(model_type: str, preset: str):
    torch.manual_seed(0)
    return ARCHITECTURES[model_type].classification_class(config_for_preset(model_type, preset)).eval()


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_processor_output_feeds_the_model_and_matches_the_pipeline(model_type, preset, clips):
    model = _model(model_type, preset)
    processor = AVEmotionProcessor.from_preset(preset)
    inputs = processor(paths=[str(clips["av"])])
    assert {"has_video", "has_audio"} <= set(inputs)  # the flags really are in what we pass
    with torch.no_grad():
        outputs = model(**inputs)
    assert outputs.logits.shape == (1, len(LABELS))
    assert outputs.embeddings is None  # only when asked
    # transformers' tuple convention: logits first without labels
    assert torch.equal(model(**inputs, return_dict=False)[0], outputs.logits)

    classifier = pipeline("audio-video-emotion", model=model, processor=processor, device="cpu")
    predicted = {item["label"]: item["score"] for item in classifier(str(clips["av"]))}
    expected = outputs.logits.softmax(-1)[0]
    assert sorted(predicted) == sorted(LABELS)
    for index, label in enumerate(LABELS):
        assert predicted[label] == pytest.approx(float(expected[index]), abs=1e-5), label


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_clip_without_audio_feeds_the_model_and_matches_the_pipeline(model_type, clips):
    model = _model(model_type, "cpu_small")
    processor = AVEmotionProcessor.from_preset("cpu_small")
    path = str(clips["video_only"])
    inputs = processor(paths=[path], allow_missing_audio=True)
    assert not bool(inputs["has_audio"].any())
    with torch.no_grad():
        logits = model(**inputs).logits
    classifier = pipeline("audio-video-emotion", model=model, processor=processor, device="cpu")
    predicted = {item["label"]: item["score"] for item in classifier(path, allow_missing_audio=True)}
    expected = logits.softmax(-1)[0]
    for index, label in enumerate(LABELS):
        assert predicted[label] == pytest.approx(float(expected[index]), abs=1e-5), label


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_presence_flags_clear_the_mask_rows(model_type, clips):
    """`has_video=False` for one clip gives what clearing its `video_mask` row gives; the flags are not ignored."""
    model = _model(model_type, "cpu_small")
    processor = AVEmotionProcessor.from_preset("cpu_small")
    inputs = dict(processor(paths=[str(clips["av"])] * 2))
    with torch.no_grad():
        both = model(**inputs).logits
        flagged = model(**{**inputs, "has_video": torch.tensor([True, False])}).logits
        video_mask = inputs["video_mask"].clone()
        video_mask[1] = False
        masked = model(**{**inputs, "video_mask": video_mask}).logits
    torch.testing.assert_close(flagged, masked)
    torch.testing.assert_close(flagged[0], both[0])
    assert not torch.allclose(flagged[1], both[1], atol=1e-6)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_loss_first_and_embeddings_on_request(model_type, clips):
    model = _model(model_type, "cpu_small")
    inputs = AVEmotionProcessor.from_preset("cpu_small")(paths=[str(clips["av"])] * 2, labels=[1, 3])
    with torch.no_grad():
        as_tuple = model(**inputs, return_dict=False)
        outputs = model(**inputs, output_embeddings=True)
    assert as_tuple[0].ndim == 0 and torch.equal(as_tuple[0], outputs.loss)
    torch.testing.assert_close(as_tuple[1], outputs.logits)
    assert outputs.embeddings is not None and outputs.embeddings.shape[0] == 2
    assert "embeddings" in model.config.keys_to_ignore_at_inference
