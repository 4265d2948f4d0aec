"""Every YAML in recipes/configs loads, names its launch command, and builds its model and processor."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import av_emotion  # noqa: F401  (registers the architectures)
from av_emotion.data.labels import get_label_set
from av_emotion.modeling import ARCHITECTURES
from av_emotion.training.config import load_config
from av_emotion.training.factory import build_model, build_processor
from av_emotion.training.loop import model_input_names, select_inputs
from tests.modeling.tiny_configs import TINY_CONFIGS
from tests.recipes.conftest import CONFIGS

SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def test_every_architecture_has_synthetic_ravdess_and_cremad_recipes():
    names = {path.stem for path in SHIPPED}
    # Every architecture of the package (the tests register throwaway ones too; TINY_CONFIGS lists the real ones).
    assert set(TINY_CONFIGS) <= set(ARCHITECTURES)
    for model_type in TINY_CONFIGS:
        for corpus in ("synthetic", "ravdess", "cremad"):
            assert f"{model_type}_{corpus}" in names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_config_loads_and_builds(path):
    text = path.read_text()
    assert f"accelerate launch recipes/train.py --config recipes/configs/{path.name}" in text.split("\n\n")[0]
    config = load_config(path)
    # `<arch>_<corpus>`, or `<arch>_<corpus>_<selection>` (`_ravdess_speech`: the audio-only speech release).
    assert path.stem in (f"{config.model.model_type}_{config.data.corpus}", f"{config.model.model_type}_ravdess_speech")
    processor = build_processor(config.processor)
    assert processor.num_frames >= 1
    labels = _labels(config)
    # Tiny overrides keep the build fast; the recipe's own sizes are exercised by the forward test below.
    tiny = {**config.model.config, **TINY_CONFIGS[config.model.model_type]}
    model = build_model(
        type(config.model)(model_type=config.model.model_type, head=config.model.head, config=tiny), labels
    )
    assert model.config.num_labels == len(labels) and model.config.id2label[0] == labels[0]


def _labels(config):
    """Class names, or the regression targets (a valence/arousal corpus such as Aff-Wild2 has no label set)."""
    if config.model.head == "regression":
        return list(config.data.target_columns)
    return get_label_set(config.data.corpus)


def _forward_through_processor(path, clip):
    config = load_config(path)
    processor = build_processor(config.processor)
    # The backbone checkpoints are not shipped; the recipe's own sizes are what this test checks.
    section = dataclasses.replace(config.model, backbones={})
    model = build_model(section, _labels(config)).eval()
    inputs = processor(videos=[str(clip)], return_tensors="pt")
    with torch.no_grad():
        outputs = model(**select_inputs(inputs, model_input_names(model)))
    assert outputs.logits.shape == (1, len(_labels(config)))
    assert torch.isfinite(outputs.logits).all()


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem.endswith("_synthetic")], ids=lambda path: path.stem)
def test_synthetic_recipe_model_matches_its_processor(path, generated_av_clip):
    """The recipe's model, at its own size, takes what its processor makes of a clip."""
    _forward_through_processor(path, generated_av_clip)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SHIPPED if not p.stem.endswith("_synthetic")], ids=lambda path: path.stem)
def test_corpus_recipe_model_matches_its_processor(path, generated_av_clip):
    _forward_through_processor(path, generated_av_clip)


SPEECH = [path for path in SHIPPED if path.stem.endswith("_ravdess_speech")]


def test_every_architecture_has_a_real_speech_recipe():
    assert {path.stem for path in SPEECH} == {f"{model_type}_ravdess_speech" for model_type in TINY_CONFIGS}


@pytest.mark.parametrize("path", SPEECH, ids=lambda path: path.stem)
def test_speech_recipe_model_takes_an_audio_only_file(path, tmp_path):
    """Audio-only, speaker-independent 6 folds, and the recipe's model at its own size runs on a 48-kHz wav (the
    format of RAVDESS's speech files, generated here so the test runs without ../shared/data)."""
    from av_emotion.data.collate import AVEmotionCollator
    from tests.processing.media_factory import write_media

    config = load_config(path)
    assert config.data.builder["modality"] == "audio_only" and config.data.drop_modality == "video"
    assert (config.data.fold_protocol, config.data.validation_speakers) == ("ravdess_6fold", 4)
    wav = write_media(tmp_path / "03-01-05-01-01-01-05.wav", duration_s=3.0, video=False, sampling_rate=48000)
    processor = build_processor(config.processor)
    collator = AVEmotionCollator(processor=processor, drop_modality="video")
    batch = collator([{"video": None, "audio": str(wav), "label": 4}])
    assert "pixel_values_videos" not in batch and batch["audio_mask"].any()
    model = build_model(config.model, get_label_set(config.data.corpus)).eval()
    with torch.no_grad():
        outputs = model(**select_inputs(batch, model_input_names(model)))
    assert outputs.logits.shape == (1, 8) and torch.isfinite(outputs.loss)
