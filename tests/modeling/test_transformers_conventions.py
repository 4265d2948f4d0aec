"""Gradient checkpointing, `output_hidden_states` and `attn_implementation`, for every registered architecture."""

from __future__ import annotations

import pytest
import torch

from av_emotion import ARCHITECTURES
from tests.modeling.tiny_configs import TINY_CONFIGS

MODEL_TYPES = sorted(ARCHITECTURES)
# Recomputation runs the same float32 kernels on the same inputs; differences beyond this mean a different graph.
GRADIENT_TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def _model(model_type: str, **overrides):
    kwargs = {**TINY_CONFIGS[model_type], **overrides}
    if model_type == "avt_ca":
        kwargs.setdefault("modality_dropout_prob", 0.0)
    torch.manual_seed(0)
    return ARCHITECTURES[model_type].classification_class(ARCHITECTURES[model_type].config_class(**kwargs))


def _inputs(model, batch: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    inputs = {key: value[:1].repeat(batch, *[1] * (value.ndim - 1)) for key, value in model.dummy_inputs.items()}
    inputs = {key: torch.randn_like(v) if v.is_floating_point() else v for key, v in inputs.items()}
    # one clip without audio, so the masked paths are checkpointed too
    if "input_features" in inputs:
        audio_mask = torch.ones(batch, inputs["input_features"].shape[-1], dtype=torch.bool)
        audio_mask[-1] = False
        inputs["audio_mask"] = audio_mask
    return inputs


def _gradients(model, inputs, labels, dropout_seed: int = 2) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(dropout_seed)
    model(**inputs, labels=labels).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_gradient_checkpointing_gives_the_same_gradients(model_type):
    model = _model(model_type)
    assert model.supports_gradient_checkpointing
    inputs, labels = _inputs(model), torch.tensor([0, 3, 5])
    # Batch norm in training mode would update its running statistics in the recomputation too: compare in train
    # mode with the statistics frozen (momentum 0), which changes nothing else of the graph.
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0
    plain = _gradients(model, inputs, labels)
    model.gradient_checkpointing_enable()
    checkpointed_layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
    assert checkpointed_layers, "gradient_checkpointing_enable() reached no layer"
    calls = []
    original = checkpointed_layers[0]._gradient_checkpointing_func
    checkpointed_layers[0]._gradient_checkpointing_func = lambda *a, **k: calls.append(1) or original(*a, **k)
    checkpointed = _gradients(model, inputs, labels)
    assert calls, "the checkpointed layer did not go through the checkpoint function"
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], **GRADIENT_TOLERANCE, msg=name)
    model.gradient_checkpointing_disable()
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_output_hidden_states(model_type):
    model = _model(model_type).eval()
    inputs = _inputs(model)
    with torch.no_grad():
        plain = model(**inputs)
        with_states = model(**inputs, output_hidden_states=True)
    assert plain.hidden_states is None
    states = with_states.hidden_states
    assert states and all(value.ndim == 3 and value.shape[0] == 3 for value in states.values()), {
        k: tuple(v.shape) for k, v in states.items()
    }
    torch.testing.assert_close(with_states.logits, plain.logits)
    # the config default is honoured, as in transformers
    model.config.output_hidden_states = True
    with torch.no_grad():
        assert model(**inputs).hidden_states.keys() == states.keys()
    assert "hidden_states" in model.config.keys_to_ignore_at_inference


ATTENTION_MODEL_TYPES = [name for name in MODEL_TYPES if ARCHITECTURES[name].model_class._supports_sdpa]


def test_architectures_with_attention_support_sdpa():
    # JCA's "attention" is built from correlation matrices, not a softmax over keys: nothing to choose there.
    assert set(ATTENTION_MODEL_TYPES) == {"avt_ca", "av_metric_fusion"}


@pytest.mark.parametrize("model_type", ATTENTION_MODEL_TYPES)
def test_eager_and_sdpa_agree_and_are_honoured(model_type, tmp_path):
    model = _model(model_type).eval()
    assert model.config._attn_implementation == "sdpa"
    inputs = _inputs(model)
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = counting
    try:
        with torch.no_grad():
            sdpa = model(**inputs).logits
            sdpa_calls = len(calls)
            model.set_attn_implementation("eager")
            assert model.config._attn_implementation == "eager"
            eager = model(**inputs).logits
            eager_calls = len(calls) - sdpa_calls
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
    assert sdpa_calls > 0 and eager_calls == 0
    torch.testing.assert_close(sdpa, eager, rtol=1e-5, atol=1e-6)
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path, attn_implementation="eager")
    assert loaded.config._attn_implementation == "eager"
    with torch.no_grad():
        # attention maps come from the eager path whatever the setting
        maps = model(**inputs, output_attentions=True).attentions
    assert maps and all(value is not None for value in maps.values())
