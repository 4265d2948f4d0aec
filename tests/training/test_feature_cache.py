"""Frozen encoders computed once (`data.feature_cache`): same training as recomputing them, keyed by the encoder
weights and the processor settings, reused by the next run, off when augmentation changes the encoder's input,
and left from the epoch the encoders unfreeze."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from av_emotion.modeling.encoders import encoder_modules
from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
)
from av_emotion.training import loop
from av_emotion.training.config import config_from_dict, load_config
from av_emotion.training.feature_cache import feature_cache_key, plan_feature_cache
from tests.recipes.conftest import CONFIGS, small_run_overrides

# A JCA for the "synthetic" processor preset (8 frames of 64x64 = 2 sub-clips of 4, 40 log-mel bands), tiny widths.
TINY_JCA = {
    "num_subclips": 2,
    "frames_per_subclip": 4,
    "image_size": 64,
    "num_mel_bins": 40,
    "visual_depth": 10,
    "visual_widths": [4, 4, 8, 8],
    "audio_depth": 10,
    "audio_widths": [4, 4, 8, 8],
    "fusion_hidden_size": 8,
    "attention_hidden_size": 4,
    "head_hidden_size": 8,
    "head_dropout": 0.1,
}
# Cached and recomputed runs differ only by float rounding: the encoders see each clip padded to other batch-mates
# (their masked convolutions ignore the padding, in another summation order).
TOLERANCE = 1e-5


def _pretrained_jca(path, seed: int = 0):
    torch.manual_seed(seed)
    model = JointCrossAttentionForEmotionClassification(JointCrossAttentionConfig(**TINY_JCA, num_labels=2))
    # Batch-norm statistics away from their initial values, as a pretrained encoder's are.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return _pretrained_jca(tmp_path_factory.mktemp("jca") / "start")


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory):
    """One preprocessing (and feature) cache folder for the runs of this module."""
    return tmp_path_factory.mktemp("cache")


def _config(corpus, pretrained, output_dir, cache_dir, **extra):
    overrides = {
        "model.pretrained": str(pretrained),
        "model.freeze_encoders": "[video, audio]",
        "training.num_epochs": 2,
        "training.checkpoint_every_steps": 0,
        **extra,
    }
    return load_config(
        CONFIGS / "joint_cross_attention_synthetic.yaml",
        small_run_overrides(corpus, output_dir, cache_dir, **overrides),
    )


def _run(config, monkeypatch):
    """Train `config`; returns (results.json, log lines with the encoder call count when each was logged)."""
    calls = {"count": 0}
    build_model = loop.build_model

    def counting_build_model(*args, **kwargs):
        model = build_model(*args, **kwargs)
        for encoder in encoder_modules(model).values():
            encoder.register_forward_hook(lambda *_: calls.__setitem__("count", calls["count"] + 1))
        return model

    monkeypatch.setattr(loop, "build_model", counting_build_model)
    lines: list[tuple[str, int]] = []
    loop.train(config, log=lambda line: lines.append((line, calls["count"])))
    results = json.loads((config.resolved_output_dir() / "results.json").read_text())
    return results, lines, calls["count"]


def _calls_when(lines, text):
    """Encoder calls made when the first log line holding `text` was written."""
    counts = [count for line, count in lines if text in line]
    assert counts, f"no log line holds {text!r}: {[line for line, _ in lines]}"
    return counts[0]


def test_cached_training_matches_recomputing_and_the_next_run_reuses_the_cache(
    small_corpus, pretrained, preprocessed, tmp_path, monkeypatch
):
    recomputed, recomputed_lines, recomputed_calls = _run(
        _config(small_corpus, pretrained, tmp_path / "off", preprocessed, **{"data.feature_cache": "off"}), monkeypatch
    )
    cached, cached_lines, cached_calls = _run(
        _config(small_corpus, pretrained, tmp_path / "on", preprocessed, **{"data.feature_cache": "on"}), monkeypatch
    )
    # The same losses, epoch by epoch, and the same trained weights.
    for with_cache, without in zip(cached["history"], recomputed["history"], strict=True):
        assert with_cache["loss"] == pytest.approx(without["loss"], abs=TOLERANCE)
    assert cached["test"]["loss"] == pytest.approx(recomputed["test"]["loss"], abs=TOLERANCE)
    trained_cached, trained = (
        load_file(tmp_path / "on" / "model.safetensors"),
        load_file(tmp_path / "off" / "model.safetensors"),
    )
    for name, value in trained.items():
        torch.testing.assert_close(trained_cached[name], value, rtol=0, atol=TOLERANCE)
    # Recomputing runs the two encoders on every batch of training, validation and test; the cached run runs them
    # once per cache batch (clips of every split, 16 a batch), before training, and never again.
    clips = sum(cached["split_sizes"].values())
    batches = -(-clips // 16)
    assert cached_calls == 2 * batches
    assert _calls_when(cached_lines, "feature cache: video, audio encoders run once over") == cached_calls
    assert recomputed_calls > 4 * cached_calls

    again, again_lines, again_calls = _run(
        _config(small_corpus, pretrained, tmp_path / "again", preprocessed, **{"data.feature_cache": "auto"}),
        monkeypatch,
    )
    assert again_calls == 0  # no encoder forward at all: outputs read from the cache file
    assert any("encoder outputs of" in line and "read from" in line for line, _ in again_lines)
    assert [entry["loss"] for entry in again["history"]] == [entry["loss"] for entry in cached["history"]]


def test_flipped_clips_come_from_the_cache_as_the_recomputing_run_flips_them(
    small_corpus, pretrained, preprocessed, tmp_path, monkeypatch
):
    flips = {"augmentation.video_flip_prob": 0.5}
    recomputed, _, _ = _run(
        _config(small_corpus, pretrained, tmp_path / "off", preprocessed, **flips, **{"data.feature_cache": "off"}),
        monkeypatch,
    )
    cached, lines, calls = _run(_config(small_corpus, pretrained, tmp_path / "on", preprocessed, **flips), monkeypatch)
    for with_cache, without in zip(cached["history"], recomputed["history"], strict=True):
        assert with_cache["loss"] == pytest.approx(without["loss"], abs=TOLERANCE)
    trained_cached, trained = (
        load_file(tmp_path / "on" / "model.safetensors"),
        load_file(tmp_path / "off" / "model.safetensors"),
    )
    for name, value in trained.items():
        torch.testing.assert_close(trained_cached[name], value, rtol=0, atol=TOLERANCE)
    batches = -(-sum(cached["split_sizes"].values()) // 16)
    assert calls == 3 * batches  # video twice (both orientations), audio once, then never again


def test_unfreezing_leaves_the_cache_from_that_epoch(small_corpus, pretrained, preprocessed, tmp_path, monkeypatch):
    config = _config(
        small_corpus, pretrained, tmp_path / "run", preprocessed, **{"model.unfreeze_encoders_after_epochs": 1}
    )
    results, lines, _ = _run(config, monkeypatch)
    built = _calls_when(lines, "feature cache:")
    assert _calls_when(lines, "epoch 1/2") == built  # epoch 1 (frozen) trained and validated from the cache
    assert _calls_when(lines, "encoders unfrozen from epoch 2; they run on the inputs again") == built
    assert _calls_when(lines, "epoch 2/2") > built  # epoch 2 runs (and trains) the encoders
    assert len(results["history"]) == 2


def test_resuming_mid_epoch_from_the_cache_reaches_the_uninterrupted_weights(
    small_corpus, pretrained, preprocessed, tmp_path, monkeypatch
):
    import shutil

    checkpoints = {"training.checkpoint_every_steps": 2, "training.keep_last_checkpoints": 10}
    flips = {"augmentation.video_flip_prob": 0.5}  # the augmentation draws must line up too
    uninterrupted = _config(small_corpus, pretrained, tmp_path / "full", preprocessed, **checkpoints, **flips)
    expected, _, _ = _run(uninterrupted, monkeypatch)
    # 12 training clips in batches of 4: 3 steps an epoch; step 4 is in the middle of the second epoch.
    resumed_config = _config(small_corpus, pretrained, tmp_path / "resumed", preprocessed, **checkpoints, **flips)
    shutil.copytree(
        tmp_path / "full" / "checkpoints" / "checkpoint-00000004",
        tmp_path / "resumed" / "checkpoints" / "checkpoint-00000004",
    )
    calls = {"count": 0}
    build_model = loop.build_model

    def counting_build_model(*args, **kwargs):
        model = build_model(*args, **kwargs)
        for encoder in encoder_modules(model).values():
            encoder.register_forward_hook(lambda *_: calls.__setitem__("count", calls["count"] + 1))
        return model

    monkeypatch.setattr(loop, "build_model", counting_build_model)
    lines = []
    loop.train(resumed_config, resume=True, log=lines.append)
    assert any("resumed from" in line for line in lines) and calls["count"] == 0  # cache read, encoders never run
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert resumed["history"] == expected["history"] and resumed["test"] == expected["test"]
    final, reference = (
        load_file(tmp_path / "resumed" / "model.safetensors"),
        load_file(tmp_path / "full" / "model.safetensors"),
    )
    assert all(torch.equal(final[name], value) for name, value in reference.items())


def test_resuming_after_the_encoders_unfroze_does_not_build_the_cache(
    small_corpus, pretrained, preprocessed, tmp_path, monkeypatch
):
    import shutil

    extra = {
        "model.unfreeze_encoders_after_epochs": 1,
        "training.checkpoint_every_steps": 3,  # 3 steps an epoch: a checkpoint at the end of epoch 1
        "training.keep_last_checkpoints": 10,
    }
    expected, _, _ = _run(_config(small_corpus, pretrained, tmp_path / "full", preprocessed, **extra), monkeypatch)
    shutil.copytree(
        tmp_path / "full" / "checkpoints" / "checkpoint-00000003",
        tmp_path / "resumed" / "checkpoints" / "checkpoint-00000003",
    )
    lines = []
    loop.train(
        _config(small_corpus, pretrained, tmp_path / "resumed", preprocessed, **extra), resume=True, log=lines.append
    )
    assert "feature cache: not built, the run resumes at epoch 2 with the encoders unfrozen" in lines
    assert not any("encoder outputs of" in line or "run once over" in line for line in lines)
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert resumed["history"] == expected["history"] and resumed["test"] == expected["test"]


def test_av_metric_fusion_recipe_trains_the_same_from_cached_backbone_maps(
    small_corpus, preprocessed, tmp_path, monkeypatch
):
    """The synthetic av_metric_fusion recipe (flips on) with its 3D ResNet frozen: cached (B, S, C, F', H', W') maps
    through the collator and the channel/spatial attention give the losses and weights of recomputing them."""
    from av_emotion.training.factory import build_model

    recipe = CONFIGS / "av_metric_fusion_synthetic.yaml"
    torch.manual_seed(0)
    build_model(load_config(recipe).model, ["neutral", "angry"]).save_pretrained(tmp_path / "start")
    runs = {}
    for mode in ("off", "on"):
        overrides = {
            "model.pretrained": str(tmp_path / "start"),
            "model.freeze_encoders": "[video]",
            "training.num_epochs": 2,
            "training.checkpoint_every_steps": 0,
            "data.feature_cache": mode,
        }
        config = load_config(recipe, small_run_overrides(small_corpus, tmp_path / mode, preprocessed, **overrides))
        runs[mode], lines, calls = _run(config, monkeypatch)
        if mode == "on":
            assert any("feature cache: video encoders run once" in line for line, _ in lines)
    for with_cache, without in zip(runs["on"]["history"], runs["off"]["history"], strict=True):
        assert with_cache["loss"] == pytest.approx(without["loss"], abs=TOLERANCE)
    trained_cached, trained = (
        load_file(tmp_path / "on" / "model.safetensors"),
        load_file(tmp_path / "off" / "model.safetensors"),
    )
    for name, value in trained.items():
        torch.testing.assert_close(trained_cached[name], value, rtol=0, atol=TOLERANCE)


def _recipe(**sections):
    raw = {
        "model": {"model_type": "joint_cross_attention", "pretrained": "start", "freeze_encoders": ["video", "audio"]},
        "data": {"corpus": "ravdess"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return JointCrossAttentionForEmotionClassification(JointCrossAttentionConfig(**TINY_JCA, num_labels=2))


def test_augmentation_that_changes_an_encoder_input_disables_its_cache_with_the_reason(tiny_model):
    plan = plan_feature_cache(_recipe(augmentation={"time_mask_param": 5}), tiny_model)
    assert plan.modalities == ["video"]  # the video encoder's input does not change: still cached
    assert plan.messages == [
        "feature cache: the frozen audio encoder runs every step: augmentation.time_mask_param changes its input "
        "every epoch; set it to 0 to cache the audio encoder"
    ]
    crop = plan_feature_cache(_recipe(augmentation={"audio_crop_frames": 20, "freq_mask_param": 2}), tiny_model)
    assert "augmentation.audio_crop_frames, augmentation.freq_mask_param changes its input" in crop.messages[0]
    with pytest.raises(
        ValueError,
        match="data.feature_cache: on, but the frozen audio encoder cannot be computed once: "
        "augmentation.time_mask_param changes its input every epoch",
    ):
        plan_feature_cache(_recipe(augmentation={"time_mask_param": 5}, data={"feature_cache": "on"}), tiny_model)
    # A flip has two outcomes: both are cached, nothing is left to run.
    flips = plan_feature_cache(_recipe(augmentation={"video_flip_prob": 0.5}), tiny_model)
    assert flips.modalities == ["video", "audio"] and flips.video_flips and not flips.messages
    on_the_fly = plan_feature_cache(_recipe(data={"preprocessing": "on_the_fly"}), tiny_model)
    assert on_the_fly.modalities == [] and "data.preprocessing is on_the_fly" in on_the_fly.messages[0]
    assert plan_feature_cache(_recipe(data={"feature_cache": "off"}), tiny_model).modalities == []
    assert plan_feature_cache(_recipe(data={"drop_modality": "video"}), tiny_model).modalities == ["audio"]
    assert plan_feature_cache(_recipe(), tiny_model).modalities == ["video", "audio"]
    assert plan_feature_cache(_recipe(model={"unfreeze_encoders_after_epochs": 3}), tiny_model).until_epoch == 3
    with pytest.raises(ValueError, match="none is frozen; set model.freeze_encoders"):
        plan_feature_cache(_recipe(model={"freeze_encoders": []}, data={"feature_cache": "on"}), tiny_model)
    # YAML 1.1 reads a bare `on` as true.
    assert _recipe(data={"feature_cache": True}).data.feature_cache == "on"


def test_dropout_inside_a_frozen_encoder_disables_its_cache(tiny_model, monkeypatch):
    import copy

    model = copy.deepcopy(tiny_model)
    model.joint_cross_attention.audio_encoder.add_module("noise", torch.nn.Dropout(0.1))
    plan = plan_feature_cache(_recipe(), model)
    assert plan.modalities == ["video"]
    assert "audio encoder runs every step: it applies dropout (p=0.1)" in plan.messages[0]


def test_cache_key_follows_encoder_weights_and_processor_settings(tiny_model):
    import copy

    key = feature_cache_key("preprocessing-key", tiny_model, ["video", "audio"])
    assert feature_cache_key("preprocessing-key", copy.deepcopy(tiny_model), ["audio", "video"]) == key
    assert feature_cache_key("other-processor-settings", tiny_model, ["video", "audio"]) != key
    assert feature_cache_key("preprocessing-key", tiny_model, ["video", "audio"], "bf16") != key
    assert feature_cache_key("preprocessing-key", tiny_model, ["video"]) != key
    changed = copy.deepcopy(tiny_model)
    with torch.no_grad():
        changed.joint_cross_attention.audio_encoder.stem[0].weight[0, 0, 0, 0] += 1e-3  # one encoder weight
    assert feature_cache_key("preprocessing-key", changed, ["video", "audio"]) != key
    statistics = copy.deepcopy(tiny_model)
    next(
        m for m in statistics.joint_cross_attention.video_encoder.modules() if hasattr(m, "running_mean")
    ).running_mean += 0.1
    assert feature_cache_key("preprocessing-key", statistics, ["video", "audio"]) != key  # batch-norm statistics
    head = copy.deepcopy(tiny_model)
    with torch.no_grad():
        head.classifier[0].weight += 1.0  # trained on top of the cache: not part of the key
        head.joint_cross_attention.video_projection.weight += 1.0
    relabelled = copy.deepcopy(head)
    relabelled.config.id2label = {0: "calm", 1: "sad"}
    assert feature_cache_key("preprocessing-key", relabelled, ["video", "audio"]) == key


@pytest.mark.parametrize(("model_type", "cached"), [("avt_ca", ["video"]), ("av_metric_fusion", ["video"])])
def test_other_architectures_cache_the_encoders_they_take_precomputed(model_type, cached):
    """AVT-CA (frame encoder) and av_metric_fusion (3D ResNet) take precomputed video outputs; their audio
    branches have no cacheable pretrained encoder (av_metric_fusion's audio ResNet is left to run, and says so)."""
    from transformers import AutoConfig

    from av_emotion.modeling import AutoModelForAudioVideoClassification
    from tests.modeling.tiny_configs import TINY_CONFIGS

    model = AutoModelForAudioVideoClassification.from_config(
        AutoConfig.for_model(model_type, **TINY_CONFIGS[model_type])
    )
    frozen = ["video", "audio"] if model_type == "av_metric_fusion" else ["video"]
    recipe = _recipe(model={"model_type": model_type, "freeze_encoders": frozen})
    plan = plan_feature_cache(recipe, model)
    assert plan.modalities == cached
    if model_type == "av_metric_fusion":
        assert plan.messages == [
            "feature cache: the frozen audio encoder runs every step: av_metric_fusion takes no precomputed audio "
            "encoder outputs"
        ]
