"""Frozen encoders keep their weights and batch-norm statistics; the encoder learning rate reaches the optimizer."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from av_emotion.modeling.encoders import ENCODER_PATHS, encoder_modules
from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
)
from av_emotion.training.config import OptimizerSection, config_from_dict
from av_emotion.training.freezing import EncoderFreezer
from av_emotion.training.loop import build_optimizer
from tests.modeling.tiny_configs import TINY_CONFIGS


def _jca():
    torch.manual_seed(0)
    config = JointCrossAttentionConfig(**TINY_CONFIGS["joint_cross_attention"])
    return JointCrossAttentionForEmotionClassification(config)


def _batch(model):
    inputs = model.dummy_inputs
    inputs["pixel_values_videos"] = inputs["pixel_values_videos"] * 3 + 1  # far from the initial BN statistics
    return {**inputs, "labels": torch.tensor([0, 1])}


def _state(module):
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _changed(before, module):
    return sorted(key for key, value in module.state_dict().items() if not torch.equal(before[key], value))


def _train_step(model, optimizer, freezer):
    model.train()
    loss = model(**_batch(model)).loss
    loss.backward()
    freezer.drop_frozen_gradients()
    optimizer.step()
    optimizer.zero_grad()


@pytest.mark.parametrize("unfreeze_after", [None, 1], ids=["whole-run", "scheduled"])
def test_frozen_encoder_weights_and_norm_statistics_stay_while_the_rest_moves(unfreeze_after):
    model = _jca()
    freezer = EncoderFreezer(model, ["video"], unfreeze_after_epochs=unfreeze_after)
    freezer.set_epoch(0)
    optimizer = build_optimizer(model, OptimizerSection(name="sgd", lr=0.1, weight_decay=0.1))
    video, audio = encoder_modules(model)["video"], encoder_modules(model)["audio"]
    video_before, audio_before = _state(video), _state(audio)
    fusion_before = model.joint_cross_attention.fusion.w_ja.detach().clone()

    _train_step(model, optimizer, freezer)

    assert _changed(video_before, video) == []  # weights, running_mean/var and num_batches_tracked
    assert any(key.endswith("running_mean") for key in _changed(audio_before, audio))  # unfrozen BN updates
    assert any(key.endswith("weight") and "bn" not in key for key in _changed(audio_before, audio))
    assert not torch.equal(fusion_before, model.joint_cross_attention.fusion.w_ja)
    assert all(not norm.training for norm in video.modules() if isinstance(norm, torch.nn.BatchNorm3d))
    assert model.training  # only the frozen encoder's norms are in eval mode

    if unfreeze_after is None:
        assert all(not parameter.requires_grad for parameter in video.parameters())
        return
    freezer.set_epoch(1)  # unfrozen: weights and statistics now move
    _train_step(model, optimizer, freezer)
    changed = _changed(video_before, video)
    assert any(key.endswith("running_mean") for key in changed) and any(
        ".conv1." in key and key.endswith("weight") for key in changed
    )


def test_encoder_learning_rate_is_a_separate_param_group():
    model = _jca()
    optimizer = build_optimizer(model, OptimizerSection(name="adamw", lr=1e-3, encoder_lr=1e-5))
    rates = {group["name"]: group["lr"] for group in optimizer.param_groups}
    assert rates == {"decay": 1e-3, "no_decay": 1e-3, "encoders/decay": 1e-5, "encoders/no_decay": 1e-5}
    encoder_ids = {id(p) for module in encoder_modules(model).values() for p in module.parameters()}
    for group in optimizer.param_groups:
        in_encoders = {id(p) in encoder_ids for p in group["params"]}
        assert in_encoders == {group["name"].startswith("encoders/")}
    total = sum(len(group["params"]) for group in optimizer.param_groups)
    assert total == len(list(model.parameters()))
    # Without encoder_lr: the two usual groups.
    plain = build_optimizer(model, OptimizerSection(lr=1e-3))
    assert [group["name"] for group in plain.param_groups] == ["decay", "no_decay"]


def test_encoder_lr_is_applied_by_a_training_step():
    model = _jca()
    frozen_copy = copy.deepcopy(model)
    optimizer = build_optimizer(
        model, OptimizerSection(name="sgd", lr=0.1, encoder_lr=0.0, weight_decay=0.0, momentum=0.0)
    )
    _train_step(model, optimizer, EncoderFreezer(model, []))
    for modality, module in encoder_modules(model).items():
        reference = encoder_modules(frozen_copy)[modality]
        for (name, parameter), original in zip(module.named_parameters(), reference.parameters()):
            assert torch.equal(parameter, original), name  # lr 0: encoders stay (their BN statistics still run)
    assert not torch.equal(model.joint_cross_attention.fusion.w_ja, frozen_copy.joint_cross_attention.fusion.w_ja)


def test_freezing_errors_name_the_setting():
    model = _jca()
    with pytest.raises(ValueError, match="unknown modality"):
        EncoderFreezer(model, ["text"])
    from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification

    avt = AVTCAForEmotionClassification(AVTCAConfig(**TINY_CONFIGS["avt_ca"]))
    with pytest.raises(ValueError, match="pretrained encoders only for \\['video'\\]"):
        EncoderFreezer(avt, ["audio"])
    raw = {"model": {"model_type": "avt_ca", "freeze_encoders": ["video"]}, "data": {"corpus": "ravdess"}}
    with pytest.raises(ValueError, match="nothing pretrained is loaded there"):
        config_from_dict(raw)
    raw["model"]["backbones"] = {"video": {"format": "efficientface", "checkpoint": "ef.pth.tar"}}
    assert config_from_dict(raw).model.freeze_encoders == ["video"]
    assert set(ENCODER_PATHS) >= set(TINY_CONFIGS)  # every architecture declares its encoders


def test_recipe_freezes_the_pretrained_encoder_for_the_whole_run(tiny_corpus, tiny_stack, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from av_emotion.training.loop import train
    from tests.training.conftest import tiny_config_dict
    from tests.training.tiny_components import TinyAVConfig, TinyAVForClassification

    monkeypatch.setitem(ENCODER_PATHS, "tiny_av_test", {"video": "video", "audio": "audio"})
    torch.manual_seed(0)
    start = TinyAVForClassification(TinyAVConfig(hidden_size=8, num_labels=2))
    start.save_pretrained(tmp_path / "start")
    # A converted start records the published backbone it holds; the run must carry that record and its notice.
    provenance = [
        {
            "modality": "video",
            "format": "keras_mini_xception",
            "checkpoint": "x.hdf5",
            "description": "d",
            "notice": "NOTICE-TEXT MIT License",
        }
    ]
    (tmp_path / "start" / "pretrained_backbones.json").write_text(json.dumps(provenance))
    raw = tiny_config_dict(tiny_corpus, tmp_path / "run", num_epochs=2)
    raw["model"].update(pretrained=str(tmp_path / "start"), freeze_encoders=["video"])
    raw["optimizer"]["encoder_lr"] = 0.01
    lines = []

    train(config_from_dict(raw), log=lines.append)

    initial, final = (
        load_file(tmp_path / "start" / "model.safetensors"),
        load_file(tmp_path / "run" / "model.safetensors"),
    )
    assert torch.equal(initial["tiny.video.weight"], final["tiny.video.weight"])
    assert not torch.equal(initial["tiny.audio.weight"], final["tiny.audio.weight"])  # encoder_lr 0.01
    assert not torch.equal(initial["head.weight"], final["head.weight"])
    assert any("encoders frozen (video) for the whole run" in line for line in lines)
    assert json.loads((tmp_path / "run" / "pretrained_backbones.json").read_text()) == provenance
    card = (tmp_path / "run" / "README.md").read_text()
    assert "## Pretrained backbones" in card and "NOTICE-TEXT MIT License" in card


def test_recipe_backbone_checkpoint_that_is_missing_names_the_setting(tmp_path):
    from av_emotion.training.factory import build_model

    raw = {
        "model": {
            "model_type": "avt_ca",
            "config": TINY_CONFIGS["avt_ca"],
            "backbones": {"video": {"format": "efficientface", "checkpoint": str(tmp_path / "absent.pth.tar")}},
        },
        "data": {"corpus": "ravdess"},
    }
    with pytest.raises(FileNotFoundError, match="model.backbones.video.checkpoint: .*absent.pth.tar.*backbones=\\{\\}"):
        build_model(config_from_dict(raw).model, ["a", "b"])


def test_recipe_backbones_are_loaded_when_the_model_is_built(tmp_path):
    from av_emotion.training.factory import build_model
    from tests.convert.original_efficientface import OriginalEfficientFace, randomize_norm_statistics

    torch.manual_seed(4)
    original = OriginalEfficientFace(repeats=(1, 1, 1), channels=(4, 8, 8, 8, 16), reduction=4, n_dilated=1).eval()
    randomize_norm_statistics(original, torch.Generator().manual_seed(4))
    torch.save({"state_dict": {f"module.{k}": v for k, v in original.state_dict().items()}}, tmp_path / "ef.pth.tar")
    raw = {
        "model": {
            "model_type": "avt_ca",
            "config": TINY_CONFIGS["avt_ca"],
            "backbones": {"video": {"format": "efficientface", "checkpoint": str(tmp_path / "ef.pth.tar")}},
            "freeze_encoders": ["video"],
        },
        "data": {"corpus": "ravdess"},
    }
    lines = []
    model = build_model(config_from_dict(raw).model, ["a", "b"], log=lines.append).eval()
    frames = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.avt_ca.video_encoder(frames), original.features(frames), atol=1e-5)
    assert any("0 missing, 0 unexpected, 0 mismatched" in line for line in lines)
