"""One test suite over every registered architecture (timm-style): an architecture joins by registering.

Contract every architecture must meet (DESIGN.md section 3):
- an entry in `tests/modeling/tiny_configs.py` (config kwargs for a model of a few thousand parameters);
- `model.dummy_inputs`: a batch of one clip sized from the config (`pixel_values_videos` (1, T, C, H, W)
  and/or `input_features` (1, n_mels, frames) or `input_values` (1, samples)); the tests draw random
  tensors of those shapes for other batch sizes;
- `forward(pixel_values_videos, input_features, video_mask, audio_mask, labels, output_attentions,
  return_dict)` returning `AVEmotionOutput`; masked steps never influence the output, and a sample whose
  mask is all False for one modality runs on the other alone;
- save/load through the Auto classes from `model.safetensors` with no missing or unexpected keys.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from av_emotion.modeling import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    AVEmotionOutput,
)
from tests.modeling.tiny_configs import TINY_CONFIGS

MODEL_TYPES = sorted(ARCHITECTURES)
MASK_CASES = ["none", "all_true", "video_partial", "audio_partial", "video_missing", "audio_missing"]
AUDIO_KEYS = ("input_features", "input_values")


def _config(model_type: str):
    if model_type not in TINY_CONFIGS:
        pytest.fail(f"registered architecture {model_type!r} has no entry in tests/modeling/tiny_configs.py")
    return ARCHITECTURES[model_type].config_class(**TINY_CONFIGS[model_type])


def _inputs(model, batch_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn(batch_size, *value.shape[1:], generator=generator, dtype=value.dtype)
        for name, value in model.dummy_inputs.items()
        if value.is_floating_point()  # masks, if a model's dummy_inputs carry them, are built per case below
    }


def _audio_key(inputs):
    return next((key for key in AUDIO_KEYS if key in inputs), None)


def _masks(inputs, case: str) -> dict[str, torch.Tensor]:
    """Masks for `case`; sample 0 gets the partial or missing modality."""
    masks = {}
    if "pixel_values_videos" in inputs and case != "none":
        masks["video_mask"] = torch.ones(inputs["pixel_values_videos"].shape[:2], dtype=torch.bool)
    audio_key = _audio_key(inputs)
    if audio_key is not None and case != "none":
        masks["audio_mask"] = torch.ones(inputs[audio_key].shape[0], inputs[audio_key].shape[-1], dtype=torch.bool)
    modality, kind = (case.split("_") + [""])[:2]
    mask = masks.get(f"{modality}_mask")
    if mask is not None and kind == "partial":
        mask[0, mask.shape[1] // 2 :] = False
    elif mask is not None and kind == "missing":
        mask[0] = False
    return masks


def _scramble_masked(inputs, masks) -> dict[str, torch.Tensor]:
    """A copy of `inputs` with large noise written wherever the masks are False."""
    scrambled = {name: value.clone() for name, value in inputs.items()}
    if "video_mask" in masks:
        video = scrambled["pixel_values_videos"]
        video[~masks["video_mask"]] = 50.0 * torch.randn_like(video[~masks["video_mask"]])
    if "audio_mask" in masks:
        audio = scrambled[_audio_key(inputs)]
        hidden = ~masks["audio_mask"]
        if audio.ndim == 3:  # (batch, features, frames)
            audio.transpose(1, 2)[hidden] = 50.0 * torch.randn_like(audio.transpose(1, 2)[hidden])
        else:  # (batch, samples)
            audio[hidden] = 50.0 * torch.randn_like(audio[hidden])
    return scrambled


def _labels(config, batch_size: int) -> torch.Tensor:
    # Two samples of one class when possible, so metric losses see a positive pair.
    return torch.tensor([0, 0, 1, 2, 3][:batch_size]) % config.num_labels


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_registered_with_every_auto_class(model_type):
    arch = ARCHITECTURES[model_type]
    config = _config(model_type)
    assert isinstance(AutoConfig.for_model(model_type), arch.config_class)
    assert type(AutoModel.from_config(config)) is arch.model_class
    assert type(AutoModelForAudioVideoClassification.from_config(config)) is arch.classification_class
    assert type(AutoModelForVideoClassification.from_config(config)) is arch.classification_class
    if arch.regression_class is not None:
        assert type(AutoModelForAudioVideoRegression.from_config(config)) is arch.regression_class


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("mask_case", MASK_CASES)
def test_forward_backward_and_masks(model_type, batch_size, mask_case):
    config = _config(model_type)
    model = ARCHITECTURES[model_type].classification_class(config)
    inputs = _inputs(model, batch_size)
    masks = _masks(inputs, mask_case)
    labels = _labels(config, batch_size)

    model.train()
    output = model(**inputs, **masks, labels=labels)
    assert isinstance(output, AVEmotionOutput)
    assert output.logits.shape == (batch_size, config.num_labels)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)
    output.loss.backward()
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            assert torch.isfinite(parameter.grad).all(), name

    model.eval()
    with torch.no_grad():
        reference = model(**inputs, **masks, output_attentions=True)
        assert torch.isfinite(reference.logits).all()
        assert reference.attentions, "output_attentions=True returned no attention maps"
        for name, weights in reference.attentions.items():
            assert weights.shape[0] == batch_size and torch.isfinite(weights).all(), name
        # Whatever sits under a False mask must not change any output.
        scrambled = model(**_scramble_masked(inputs, masks), **masks)
        torch.testing.assert_close(scrambled.logits, reference.logits)
        if mask_case == "all_true":
            torch.testing.assert_close(model(**inputs).logits, reference.logits)
        if mask_case == "none":
            # ...while every modality that is present does change it.
            for name in inputs:
                changed = dict(inputs, **{name: inputs[name] + torch.randn_like(inputs[name])})
                assert not torch.allclose(model(**changed).logits, reference.logits), f"{name} has no effect"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_samples_are_independent_in_eval(model_type):
    model = ARCHITECTURES[model_type].classification_class(_config(model_type)).eval()
    inputs = _inputs(model, 3)
    with torch.no_grad():
        batched = model(**inputs).logits
        single = model(**{name: value[1:2] for name, value in inputs.items()}).logits
    torch.testing.assert_close(single, batched[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_clip_logits_do_not_depend_on_longer_or_shorter_batch_mates(model_type):
    # A batch pads audio to its longest clip (the collator's layout): a clip must give the same eval-mode
    # logits alone (unpadded, no mask) and next to a shorter and a longer clip, with noise in its padding.
    model = ARCHITECTURES[model_type].classification_class(_config(model_type)).eval()
    _perturb_and_update_statistics(model, _inputs(model, 2, seed=5))
    base = _inputs(model, 1)
    audio_key = _audio_key(base)
    base_frames = base[audio_key].shape[-1]
    frame_counts = [base_frames + 3, base_frames, 2 * base_frames + 5]
    longest = max(frame_counts)
    generator = torch.Generator().manual_seed(1)
    clips = []
    for count in frame_counts:
        clip = {name: torch.randn(value.shape, generator=generator) for name, value in base.items()}
        clip[audio_key] = torch.randn(*base[audio_key].shape[:-1], count, generator=generator)
        clips.append(clip)
    padded_audio, audio_mask = [], torch.zeros(len(clips), longest, dtype=torch.bool)
    for index, clip in enumerate(clips):
        count = clip[audio_key].shape[-1]
        noise = 50.0 * torch.randn(*clip[audio_key].shape[:-1], longest - count, generator=generator)
        padded_audio.append(torch.cat([clip[audio_key], noise], dim=-1))
        audio_mask[index, :count] = True
    batch = {name: torch.cat([clip[name] for clip in clips]) for name in base if name != audio_key}
    batch[audio_key] = torch.cat(padded_audio)
    with torch.no_grad():
        batched = model(**batch, audio_mask=audio_mask).logits
        for index, clip in enumerate(clips):
            alone = model(**clip).logits
            torch.testing.assert_close(
                batched[index : index + 1], alone, rtol=0, atol=1e-5, msg=f"clip {index} ({frame_counts[index]} frames)"
            )


def _perturb_and_update_statistics(model, inputs):
    """Move every weight and the batch-norm statistics away from their initial values."""
    model.train()
    with torch.no_grad():
        model(**inputs)
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    model.eval()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_save_and_load_through_auto_classes(model_type, tmp_path):
    arch = ARCHITECTURES[model_type]
    config = _config(model_type)
    model = arch.classification_class(config)
    inputs = _inputs(model, 2)
    _perturb_and_update_statistics(model, inputs)
    model.save_pretrained(tmp_path)

    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))

    loaded_config = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded_config) is arch.config_class
    expected_config = {k: v for k, v in model.config.to_dict().items() if k != "_name_or_path"}
    assert {k: v for k, v in loaded_config.to_dict().items() if k != "_name_or_path"} == expected_config

    loaded, info = AutoModelForAudioVideoClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert type(loaded) is arch.classification_class
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    loaded.eval()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)

    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is arch.model_class
    base.eval()
    with torch.no_grad():
        expected = getattr(model, model.base_model_prefix)(**inputs).to_tuple()
        actual = base(**inputs).to_tuple()
    for want, got in zip(expected, actual):
        if isinstance(want, torch.Tensor):
            assert torch.equal(got, want)


@pytest.mark.parametrize("model_type", [t for t in MODEL_TYPES if ARCHITECTURES[t].regression_class is not None])
def test_regression_head_forward_backward_and_round_trip(model_type, tmp_path):
    arch = ARCHITECTURES[model_type]
    model = arch.regression_class(_config(model_type))
    inputs = _inputs(model, 3)
    output = model(**inputs)
    targets = torch.rand_like(output.logits) * 2 - 1
    output = model(**inputs, labels=targets)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    _perturb_and_update_statistics(model, inputs)
    model.save_pretrained(tmp_path)
    loaded, info = AutoModelForAudioVideoRegression.from_pretrained(tmp_path, output_loading_info=True)
    assert type(loaded) is arch.regression_class
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with torch.no_grad():
        assert torch.equal(loaded.eval()(**inputs).logits, model(**inputs).logits)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_return_dict_false_gives_a_tuple(model_type):
    config = _config(model_type)
    model = ARCHITECTURES[model_type].classification_class(config).eval()
    inputs = _inputs(model, 2)
    with torch.no_grad():
        as_tuple = model(**inputs, return_dict=False)
        as_output = model(**inputs)
    assert isinstance(as_tuple, tuple)
    assert torch.equal(as_tuple[0], as_output.logits)


def test_an_architecture_without_tiny_config_fails(monkeypatch):
    monkeypatch.delitem(TINY_CONFIGS, MODEL_TYPES[0])
    with pytest.raises(pytest.fail.Exception, match="no entry in tests/modeling/tiny_configs.py"):
        _config(MODEL_TYPES[0])
