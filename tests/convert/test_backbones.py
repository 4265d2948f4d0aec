"""Published backbone checkpoints load into the encoders with zero missing / unexpected keys and equal outputs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from av_emotion import cli
from av_emotion.convert import load_backbone, load_torch_checkpoint
from av_emotion.modeling import AutoModelForAudioVideoClassification
from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification
from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
)
from tests.convert.original_efficientface import OriginalEfficientFace, randomize_norm_statistics
from tests.modeling.tiny_configs import TINY_CONFIGS

TINY_EFFICIENTFACE = dict(repeats=(1, 1, 1), channels=(4, 8, 8, 8, 16), reduction=4, n_dilated=1)


def _save_training_checkpoint(module: nn.Module, path, prefix: str = "module.") -> None:
    """The layout of `EfficientFace_Trained_on_AffectNet7.pth.tar`: a dict with a DataParallel `state_dict`."""
    state = {prefix + key: value for key, value in module.state_dict().items()}
    torch.save({"epoch": 12, "arch": "EfficientFace", "state_dict": state, "best_acc": torch.tensor(63.7)}, path)


def _original_efficientface(seed: int = 0, **kwargs) -> OriginalEfficientFace:
    torch.manual_seed(seed)
    original = OriginalEfficientFace(**kwargs)
    randomize_norm_statistics(original, torch.Generator().manual_seed(seed))
    return original.eval()


def test_efficientface_checkpoint_of_published_size_maps_every_key(tmp_path):
    original = _original_efficientface()  # the published widths (29, 116, 232, 464, 1024), stages (4, 8, 4)
    path = tmp_path / "EfficientFace_Trained_on_AffectNet7.pth.tar"
    _save_training_checkpoint(original, path)
    model = AVTCAForEmotionClassification(AVTCAConfig()).eval()

    report = load_backbone(model, "video", "efficientface", path)

    assert report.ok, report.to_table()
    assert report.missing == [] and report.unexpected == [] and report.mismatched == []
    assert sorted(report.skipped) == ["fc.bias", "fc.weight"]
    assert len(report.loaded) == len(model.avt_ca.video_encoder.state_dict())
    frames = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = original.features(frames)
        actual = model.avt_ca.video_encoder(frames)
    assert (actual - expected).abs().max().item() <= 1e-5


def test_efficientface_conversion_reproduces_the_original_forward_pass(tmp_path):
    original = _original_efficientface(seed=3, **TINY_EFFICIENTFACE)
    path = tmp_path / "ef.pth.tar"
    _save_training_checkpoint(original, path)
    model = AVTCAForEmotionClassification(AVTCAConfig(**TINY_CONFIGS["avt_ca"])).eval()

    report = load_backbone(model, "video", "efficientface", path)

    assert report.ok, report.to_table()
    frames = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = original.features(frames)
        actual = model.avt_ca.video_encoder(frames)
    assert (actual - expected).abs().max().item() <= 1e-5
    # The patch order matters: swapping two patches' kernels (a wrong map) changes the output.
    with torch.no_grad():
        conv = model.avt_ca.video_encoder.local.conv1.weight
        block = conv.shape[0] // 4
        conv[block : 2 * block], conv[2 * block : 3 * block] = (
            conv[2 * block : 3 * block].clone(),
            conv[block : 2 * block].clone(),
        )
        assert (model.avt_ca.video_encoder(frames) - expected).abs().max().item() > 1e-4


def test_report_lists_unknown_missing_and_mismatched_keys(tmp_path):
    original = _original_efficientface(**TINY_EFFICIENTFACE)
    state = original.state_dict()
    state["extra_head.weight"] = torch.zeros(3)
    del state["conv5.0.weight"]
    state["stage3.0.branch2.0.weight"] = torch.zeros(1, 1, 1, 1)
    model = AVTCAForEmotionClassification(AVTCAConfig(**TINY_CONFIGS["avt_ca"]))

    report = load_backbone(model, "video", "efficientface", state)

    assert not report.ok
    assert report.unexpected == ["extra_head.weight"]
    assert report.missing == ["conv5.0.weight"]
    assert [key for key, _, _ in report.mismatched] == ["stage3.0.branch2.0.weight"]
    table = report.to_table()
    for status in ("UNEXPECTED", "MISSING", "MISMATCH", "SKIPPED"):
        assert status in table


def test_checkpoints_needing_code_to_unpickle_are_refused(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "optimizer_factory": _save_training_checkpoint}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_torch_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_torch_checkpoint(tmp_path / "absent.pth")


def test_wrong_format_for_the_encoder_is_a_clear_error():
    model = AVTCAForEmotionClassification(AVTCAConfig(**TINY_CONFIGS["avt_ca"]))
    with pytest.raises(ValueError, match="has no pretrained audio encoder"):
        load_backbone(model, "audio", "torchvision_resnet", {})
    with pytest.raises(
        ValueError, match="EfficientFaceEncoder; torchvision_r3d checkpoints load into a ResNet3dEncoder"
    ):
        load_backbone(model, "video", "torchvision_r3d", {})


def _randomized(module: nn.Module, seed: int) -> nn.Module:
    randomize_norm_statistics(module, torch.Generator().manual_seed(seed))
    return module.eval()


def _torchvision_video_features(network, clips):
    return network.layer4(network.layer3(network.layer2(network.layer1(network.stem(clips)))))


def test_torchvision_r3d_18_converts_with_equal_outputs(tmp_path):
    video = pytest.importorskip("torchvision.models.video")
    torch.manual_seed(0)
    original = _randomized(video.r3d_18(weights=None), 1)
    path = tmp_path / "r3d_18-b3b3357e.pth"
    torch.save(original.state_dict(), path)  # torchvision publishes a bare state dict
    config = dict(TINY_CONFIGS["av_metric_fusion"], video_resnet_depth=18, video_resnet_widths=[64, 128, 256, 512])
    model = AutoModelForAudioVideoClassification.from_config(_config("av_metric_fusion", **config)).eval()

    report = load_backbone(model, "video", "torchvision_r3d", path)

    assert report.ok, report.to_table()
    assert sorted(report.skipped) == ["fc.bias", "fc.weight"]
    clips = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        expected = _torchvision_video_features(original, clips)
        actual = model.base_model.video_encoder.backbone(clips)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() <= 1e-5


def _config(model_type: str, **kwargs):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **kwargs)


def _jca(**overrides) -> JointCrossAttentionForEmotionClassification:
    return JointCrossAttentionForEmotionClassification(
        JointCrossAttentionConfig(**dict(TINY_CONFIGS["joint_cross_attention"], **overrides))
    ).eval()


def test_torchvision_r2plus1d_18_and_resnet18_load_into_jca_with_equal_outputs(tmp_path):
    video = pytest.importorskip("torchvision.models.video")
    models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    r2plus1d = _randomized(video.r2plus1d_18(weights=None), 2)
    resnet = _randomized(models.resnet18(weights=None), 3)  # ImageNet layout: RGB conv1
    full = dict(visual_depth=18, visual_widths=[64, 128, 256, 512], visual_conv_type="2plus1d")
    model = _jca(**full, visual_backbone_layout="torchvision", audio_depth=18, audio_widths=[64, 128, 256, 512])
    torch.save(r2plus1d.state_dict(), tmp_path / "r2plus1d_18.pth")
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pth")

    video_report = load_backbone(model, "video", "torchvision_r2plus1d", tmp_path / "r2plus1d_18.pth")
    audio_report = load_backbone(model, "audio", "torchvision_resnet", tmp_path / "resnet18.pth")

    assert video_report.ok, video_report.to_table()
    assert audio_report.ok, audio_report.to_table()
    assert audio_report.converted == {"stem.0.weight": "3 input channels averaged to 1"}
    clips = torch.randn(1, 3, 4, 32, 32)
    spectrogram = torch.randn(2, 1, 32, 24)
    # TSAV's audio network: torchvision's resnet18 with a one-channel conv1 holding the mean RGB kernel.
    mono = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    mono.weight.data.copy_(resnet.conv1.weight.mean(dim=1, keepdim=True))
    with torch.no_grad():
        expected_video = _torchvision_video_features(r2plus1d, clips)
        actual_video = model.joint_cross_attention.video_encoder(clips)
        x = resnet.maxpool(resnet.relu(resnet.bn1(mono(spectrogram))))
        expected_audio = resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(x))))
        actual_audio = model.joint_cross_attention.audio_encoder(spectrogram)
    assert (actual_video - expected_video).abs().max().item() <= 1e-5
    assert (actual_audio - expected_audio).abs().max().item() <= 1e-5

    # A TSAV two-stream checkpoint (JCA's authors' starting point) holds both networks under prefixes.
    tsav = {f"video_model.r2plus1d.{k}": v for k, v in r2plus1d.state_dict().items()}
    tsav.update({f"audio_model.resnet.{k}": v for k, v in resnet.state_dict().items()})
    torch.save({"state_dict": tsav}, tmp_path / "tsav.pth")
    assert load_backbone(model, "video", "torchvision_r2plus1d", tmp_path / "tsav.pth").ok
    assert load_backbone(model, "audio", "torchvision_resnet", tmp_path / "tsav.pth").ok

    # Tran et al.'s per-convolution layout (our default) cannot take torchvision's weights: a clear error.
    with pytest.raises(ValueError, match="visual_backbone_layout"):
        load_backbone(_jca(**full), "video", "torchvision_r2plus1d", tmp_path / "r2plus1d_18.pth")


def test_convert_command_writes_a_loadable_safetensors_model(tmp_path, capsys):
    original = _original_efficientface(seed=5, **TINY_EFFICIENTFACE)
    checkpoint = tmp_path / "ef.pth.tar"
    _save_training_checkpoint(original, checkpoint)
    out = tmp_path / "converted"
    overrides = [f"--set={key}={json.dumps(value)}" for key, value in TINY_CONFIGS["avt_ca"].items()]

    code = cli.main(
        ["convert", "--model-type", "avt_ca", *overrides, "--video", f"efficientface={checkpoint}", "--out", str(out)]
    )

    assert code == 0
    printed = capsys.readouterr().out
    assert "0 missing, 0 unexpected, 0 mismatched, 2 skipped" in printed
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    report = json.loads((out / "conversion_report.json").read_text())
    assert report[0]["ok"] is True
    reloaded = AutoModelForAudioVideoClassification.from_pretrained(out).eval()
    frames = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(reloaded.avt_ca.video_encoder(frames), original.features(frames), atol=1e-5)

    bad = cli.main(
        ["convert", "--model-type", "avt_ca", "--video", f"efficientface={checkpoint}", "--out", str(tmp_path / "x")]
    )
    assert bad == 2  # default-size model, tiny checkpoint: mismatches, nothing written
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out  # the load report table
    last_line = captured.err.strip().splitlines()[-1]  # after any progress bars of the reload above
    assert last_line.startswith("av-emotion convert: error: the checkpoint does not fit")
    assert not (tmp_path / "x").exists()


def test_convert_list_formats_prints_every_format_without_needing_out(capsys):
    from av_emotion.convert.pretrained import BACKBONE_FORMATS

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["convert", "--list-formats"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[0] for line in printed] == list(BACKBONE_FORMATS)
