"""Tests specific to the Mocanu et al. 2023 model (the shared contract is in test_architectures.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from av_emotion import AVMetricFusionConfig, AVMetricFusionForEmotionClassification, AVMetricFusionModel
from av_emotion.modeling.losses import RUSSELL_CIRCUMPLEX
from tests.modeling.tiny_configs import TINY_CONFIGS

TINY = TINY_CONFIGS["av_metric_fusion"]
FRAMES = TINY["num_snippets"] * TINY["frames_per_snippet"]  # 4 video frames
MELS, AUDIO_FRAMES = TINY["num_mel_bins"], 64


def tiny_config(**overrides) -> AVMetricFusionConfig:
    return AVMetricFusionConfig(**{**TINY, **overrides})


def clips(batch: int, frames: int = FRAMES, audio_frames: int = AUDIO_FRAMES, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values_videos": torch.randn(batch, frames, 3, 32, 32, generator=generator),
        "input_features": torch.randn(batch, MELS, audio_frames, generator=generator),
    }


# --- configuration -------------------------------------------------------------------------------


def test_config_defaults_follow_the_documented_reading():
    config = AVMetricFusionConfig()
    assert config.model_type == "av_metric_fusion"
    assert list(config.id2label.values()) == [
        "neutral",
        "calm",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgust",
        "surprised",
    ]
    assert config.label2id["surprised"] == 7
    assert config.video_resnet_depth == 18 and config.video_conv_type == "3d"
    assert config.emotion_circumplex == {name: list(pos) for name, pos in RUSSELL_CIRCUMPLEX.items()}
    assert AVMetricFusionConfig(num_labels=3).id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert AVMetricFusionConfig(id2label={0: "happy", 1: "sad"}).label2id == {"happy": 0, "sad": 1}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hidden_size": 10, "num_attention_heads": 4}, r"hidden_size \(10\) must be divisible"),
        ({"metric_mining": "all"}, "metric_mining must be 'batch_hard' or 'semi_hard'"),
        ({"video_resnet_depth": 50}, r"video_resnet_depth must be one of \[10, 18, 34\]"),
        ({"audio_resnet_widths": [4, 8]}, "audio_resnet_widths must give 4 stage widths"),
        ({"video_conv_type": "2d"}, "video_conv_type must be '3d' or '2plus1d'"),
    ],
)
def test_config_rejects_inconsistent_hyper_parameters(overrides, message):
    with pytest.raises(StrictDataclassError, match=message):
        tiny_config(**overrides)


# --- input checks --------------------------------------------------------------------------------


def test_input_errors_name_the_input_and_the_fix():
    model = AVMetricFusionForEmotionClassification(tiny_config()).eval()
    with pytest.raises(ValueError, match=r"has 5 frames .* num_snippets \(2\) x frames_per_snippet \(2\) = 4"):
        model(**clips(1, frames=5))
    with pytest.raises(ValueError, match=r"num_mel_bins=16"):
        model(pixel_values_videos=clips(1)["pixel_values_videos"], input_features=torch.randn(1, 8, 64))
    with pytest.raises(ValueError, match=r"video_mask must have shape \(batch, 4\)"):
        model(**clips(2), video_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="pass pixel_values_videos, input_features, or both"):
        model()
    with pytest.raises(ValueError, match="different batch sizes"):
        model(pixel_values_videos=clips(2)["pixel_values_videos"], input_features=clips(3)["input_features"])
    with pytest.raises(ValueError, match=r"samples \[1\] have neither video nor audio"):
        model(
            **clips(2),
            video_mask=torch.tensor([[True] * 4, [False] * 4]),
            audio_mask=torch.tensor([[True] * 64, [False] * 64]),
        )
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 8\)"):
        model(**clips(2), labels=torch.tensor([0, 8]))


# --- missing and padded data --------------------------------------------------------------------


def test_missing_audio_means_video_branch_only():
    model = AVMetricFusionForEmotionClassification(tiny_config()).eval()
    inputs = clips(3)
    no_audio = torch.ones(3, AUDIO_FRAMES, dtype=torch.bool)
    no_audio[1] = False
    with torch.no_grad():
        batched = model(**inputs, audio_mask=no_audio)
        video_only = model(pixel_values_videos=inputs["pixel_values_videos"][1:2])
        masked_alone = model(**{k: v[1:2] for k, v in inputs.items()}, audio_mask=no_audio[1:2])
    torch.testing.assert_close(batched.logits[1:2], video_only.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(masked_alone.logits, video_only.logits)
    assert torch.equal(batched.audio_logits[1], model.audio_classifier.bias)  # zero audio embedding


def test_missing_video_means_audio_branch_only():
    model = AVMetricFusionForEmotionClassification(tiny_config()).eval()
    inputs = clips(2)
    no_video = torch.tensor([[False] * FRAMES, [True] * FRAMES])
    with torch.no_grad():
        batched = model(**inputs, video_mask=no_video)
        audio_only = model(input_features=inputs["input_features"][:1])
    torch.testing.assert_close(batched.logits[:1], audio_only.logits, rtol=1e-4, atol=1e-5)
    assert audio_only.attentions is None


def test_audio_frames_not_divisible_by_snippets_are_all_used_and_padding_ignored():
    model = AVMetricFusionForEmotionClassification(tiny_config(num_snippets=2)).eval()
    inputs = clips(2, audio_frames=64)
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[:, -1] = False
    with torch.no_grad():
        odd = model(
            pixel_values_videos=inputs["pixel_values_videos"], input_features=inputs["input_features"][..., :63]
        )
        masked = model(**inputs, audio_mask=mask)
    torch.testing.assert_close(odd.logits, masked.logits)


# --- attention maps ------------------------------------------------------------------------------


def test_output_attentions_shapes_and_masks():
    config = tiny_config()
    model = AVMetricFusionForEmotionClassification(config).eval()
    video_mask = torch.ones(2, FRAMES, dtype=torch.bool)
    video_mask[0, 2:] = False  # sample 0: second video snippet missing
    audio_mask = torch.ones(2, AUDIO_FRAMES, dtype=torch.bool)
    audio_mask[1] = False  # sample 1: no audio
    with torch.no_grad():
        maps = model(**clips(2), video_mask=video_mask, audio_mask=audio_mask, output_attentions=True).attentions
    s, heads = config.num_snippets, config.num_attention_heads
    assert set(maps) == {
        "spatial",
        "channel",
        "temporal_video",
        "temporal_audio",
        "cross_audio_to_video",
        "cross_video_to_audio",
    }
    assert maps["spatial"].shape == (2, s, 2, 2)  # 32 px / 16
    assert maps["channel"].shape == (2, s, config.video_resnet_widths[-1])
    for name in ("temporal_video", "temporal_audio", "cross_audio_to_video", "cross_video_to_audio"):
        assert maps[name].shape == (2, heads, s, s), name

    valid_video = torch.tensor([[True, False], [True, True]])
    torch.testing.assert_close(maps["spatial"].sum((2, 3)), valid_video.float())
    assert ((maps["channel"][valid_video] > 0) & (maps["channel"][valid_video] < 1)).all()
    assert torch.equal(maps["channel"][0, 1], torch.zeros(config.video_resnet_widths[-1]))
    # Masked snippets are neither attended to nor attending.
    assert torch.equal(maps["temporal_video"][0, :, :, 1], torch.zeros(heads, s))
    assert torch.equal(maps["temporal_video"][0, :, 1, :], torch.zeros(heads, s))
    torch.testing.assert_close(maps["temporal_video"][0, :, 0, 0], torch.ones(heads))
    assert torch.equal(maps["temporal_audio"][1], torch.zeros(heads, s, s))
    assert torch.equal(maps["cross_audio_to_video"][0, :, :, 1], torch.zeros(heads, s))
    torch.testing.assert_close(maps["cross_audio_to_video"][0].sum(-1), torch.ones(heads, s))
    assert torch.equal(maps["cross_audio_to_video"][1], torch.zeros(heads, s, s))
    assert torch.equal(maps["cross_video_to_audio"][1], torch.zeros(heads, s, s))
    torch.testing.assert_close(maps["cross_video_to_audio"][0, :, 0].sum(-1), torch.ones(heads))


@pytest.mark.parametrize("training", [False, True])
def test_precomputed_video_backbone_outputs_give_the_frames_result(training):
    """encode_video once (a frozen backbone), then forward from its feature maps: same logits, loss, gradients."""
    torch.manual_seed(0)
    model = AVMetricFusionForEmotionClassification(tiny_config(num_labels=3))
    backbone = model.av_metric_fusion.video_encoder.backbone
    backbone.requires_grad_(False)
    model.train(training)
    backbone.eval()  # frozen: running statistics, as the recipes' EncoderFreezer keeps them
    inputs = clips(4)
    video_mask = torch.ones(4, FRAMES, dtype=torch.bool)
    video_mask[1, 2:] = False  # second snippet of clip 1 has no frame
    video_mask[2] = False  # clip 2 has no video
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        maps, snippet_mask = model.av_metric_fusion.encode_video(inputs["pixel_values_videos"], video_mask)
    assert maps.shape[:3] == (4, 2, backbone.out_channels) and snippet_mask.tolist()[1:3] == [
        [True, False],
        [False, False],
    ]

    torch.manual_seed(1)
    raw = model(**inputs, video_mask=video_mask, labels=labels, output_attentions=True)
    raw.loss.backward()
    raw_grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    torch.manual_seed(1)  # dropout draws the same
    cached = model(
        input_features=inputs["input_features"],
        video_encoder_outputs=maps,
        video_encoder_mask=snippet_mask,
        labels=labels,
        output_attentions=True,
    )
    cached.loss.backward()
    torch.testing.assert_close(cached.logits, raw.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(cached.loss, raw.loss, rtol=0, atol=1e-5)
    torch.testing.assert_close(cached.attentions["spatial"], raw.attentions["spatial"], rtol=0, atol=1e-6)
    assert raw_grads and all(name.split(".")[1] != "video_encoder" or "backbone" not in name for name in raw_grads)
    for name, grad in raw_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="either pixel_values_videos .* or video_encoder_outputs"):
        model(**inputs, video_encoder_outputs=maps)
    with pytest.raises(ValueError, match=r"video_encoder_outputs must be \(batch, num_snippets"):
        model(input_features=inputs["input_features"], video_encoder_outputs=maps[:, :1])


def test_spatial_map_keeps_its_shape_when_a_batch_has_no_valid_video():
    model = AVMetricFusionForEmotionClassification(tiny_config()).eval()
    with torch.no_grad():
        maps = model(**clips(2), video_mask=torch.zeros(2, FRAMES, dtype=torch.bool), output_attentions=True).attentions
    assert maps["spatial"].shape == (2, 2, 2, 2) and not maps["spatial"].any()


# --- gradients and losses ------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"auxiliary_loss_weight": 0.5, "metric_mining": "semi_hard"}])
def test_gradients_reach_every_parameter(overrides):
    model = AVMetricFusionForEmotionClassification(tiny_config(**overrides)).train()
    output = model(**clips(3), labels=torch.tensor([0, 0, 4]))
    output.loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_probe_heads_leave_the_encoders_alone_unless_asked():
    def encoder_gradients(model, full_loss: bool):
        model.zero_grad()
        inputs, labels = clips(3), torch.tensor([0, 1, 2])
        output = model(**inputs, labels=labels)
        loss = output.loss if full_loss else torch.nn.functional.cross_entropy(output.logits, labels)
        loss.backward()
        return [p.grad.clone() for p in model.av_metric_fusion.parameters()]

    no_dropout = {"attention_dropout": 0.0, "hidden_dropout": 0.0, "classifier_dropout": 0.0, "metric_loss_weight": 0}
    model = AVMetricFusionForEmotionClassification(tiny_config(**no_dropout)).train()
    for with_heads, without in zip(encoder_gradients(model, True), encoder_gradients(model, False)):
        torch.testing.assert_close(with_heads, without)
    model.config.auxiliary_loss_weight = 1.0
    changed = [
        not torch.allclose(a, b) for a, b in zip(encoder_gradients(model, True), encoder_gradients(model, False))
    ]
    assert any(changed)


def test_loss_is_cross_entropy_plus_weighted_metric_plus_probes():
    config = tiny_config(classifier_dropout=0.0, metric_loss_weight=0.7)
    model = AVMetricFusionForEmotionClassification(config).eval()
    labels = torch.tensor([2, 2, 5])
    with torch.no_grad():
        output = model(**clips(3), labels=labels, output_embeddings=True)
        ce = torch.nn.functional.cross_entropy(output.logits, labels)
        metric = model.emotion_metric(output.embeddings, labels)
        probes = torch.nn.functional.cross_entropy(output.audio_logits, labels) + torch.nn.functional.cross_entropy(
            output.video_logits, labels
        )
    assert metric > 0
    torch.testing.assert_close(output.loss, ce + 0.7 * metric + probes)


def test_relation_matrix_is_readable_and_learned():
    config = tiny_config()
    model = AVMetricFusionForEmotionClassification(config)
    relation = model.emotion_relation_matrix()
    assert relation.shape == (8, 8) and not relation.requires_grad
    names = [config.id2label[i] for i in range(8)]
    positions = [RUSSELL_CIRCUMPLEX[name] for name in names]
    mean = sum(math.dist(positions[i], positions[j]) for i in range(8) for j in range(i + 1, 8)) / 28
    assert relation[names.index("angry"), names.index("calm")].item() == pytest.approx(
        math.dist(RUSSELL_CIRCUMPLEX["angry"], RUSSELL_CIRCUMPLEX["calm"]) / mean, rel=1e-4
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for seed in range(3):
        optimizer.zero_grad()
        model(**clips(4, seed=seed), labels=torch.tensor([4, 4, 1, 6])).loss.backward()
        optimizer.step()
    learned = model.emotion_relation_matrix()
    assert not torch.allclose(learned, relation)
    torch.testing.assert_close(learned, learned.T)
    assert learned[~torch.eye(8, dtype=torch.bool)].mean().item() == pytest.approx(1.0, rel=1e-5)


# --- Hub integration -----------------------------------------------------------------------------


def test_register_for_auto_class_writes_auto_map(tmp_path):
    model = AVMetricFusionForEmotionClassification(tiny_config())
    try:
        AVMetricFusionConfig.register_for_auto_class()
        AVMetricFusionModel.register_for_auto_class("AutoModel")
        AVMetricFusionForEmotionClassification.register_for_auto_class("AutoModelForVideoClassification")
        model.save_pretrained(tmp_path)
        AVMetricFusionModel(tiny_config()).save_pretrained(tmp_path / "base")
    finally:
        AVMetricFusionConfig._auto_class = None
        AVMetricFusionModel._auto_class = None
        AVMetricFusionForEmotionClassification._auto_class = None
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_av_metric_fusion.AVMetricFusionConfig",
        "AutoModelForVideoClassification": "modeling_av_metric_fusion.AVMetricFusionForEmotionClassification",
    }
    assert (tmp_path / "configuration_av_metric_fusion.py").is_file()
    assert (tmp_path / "modeling_av_metric_fusion.py").is_file()
    base_map = json.loads((tmp_path / "base" / "config.json").read_text())["auto_map"]
    assert base_map["AutoModel"] == "modeling_av_metric_fusion.AVMetricFusionModel"


def test_dummy_inputs_follow_the_config():
    model = AVMetricFusionModel(tiny_config())
    assert model.dummy_inputs["pixel_values_videos"].shape == (1, FRAMES, 3, 32, 32)
    assert model.dummy_inputs["input_features"].shape == (1, MELS, 64)
    assert model(**model.dummy_inputs).embeddings.shape == (1, TINY["fusion_hidden_size"])


# --- learning ------------------------------------------------------------------------------------


def xor_corpus(per_class: int = 4, size: int = 16, seed: int = 0):
    """Four classes where the video tells one bit and the audio the other: class = 2 * video + audio.

    Video: a bright top (bit 0) or bottom (bit 1) half on noisy frames. Audio: energy in the low (bit 0)
    or high (bit 1) mel bands on a noisy spectrogram. Either modality alone is right at most half the time.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat_interleave(per_class)
    video_bit, audio_bit = labels // 2, labels % 2
    n = len(labels)
    video = 0.3 * torch.randn(n, FRAMES, 3, size, size, generator=generator)
    video[video_bit == 0, :, :, : size // 2] += 1.0
    video[video_bit == 1, :, :, size // 2 :] += 1.0
    audio = 0.3 * torch.randn(n, MELS, AUDIO_FRAMES, generator=generator)
    audio[audio_bit == 0, : MELS // 2] += 1.0
    audio[audio_bit == 1, MELS // 2 :] += 1.0
    return {"pixel_values_videos": video, "input_features": audio}, labels


def test_learns_a_task_that_needs_both_modalities():
    inputs, labels = xor_corpus()
    config = tiny_config(id2label={0: "neutral", 1: "happy", 2: "sad", 3: "angry"})
    model = AVMetricFusionForEmotionClassification(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    cross_entropies, accuracies = [], []
    for _ in range(25):
        model.train()
        optimizer.zero_grad()
        output = model(**inputs, labels=labels)
        output.loss.backward()
        optimizer.step()
        # The fused cross-entropy: the total loss also holds the probes, whose CE stays near ln 2 at best
        # (each modality tells only one of the two bits).
        cross_entropies.append(torch.nn.functional.cross_entropy(output.logits, labels).item())
        accuracies.append((output.logits.argmax(-1) == labels).float().mean().item())
    model.eval()
    with torch.no_grad():
        eval_accuracy = (model(**inputs).logits.argmax(-1) == labels).float().mean().item()
    assert cross_entropies[0] == pytest.approx(math.log(4), abs=0.05)
    assert cross_entropies[-1] < 0.5 * cross_entropies[0], cross_entropies
    # Chance is 0.25 and either modality alone can be right at most half the time.
    assert sum(accuracies[-3:]) / 3 >= 0.85, accuracies
    assert eval_accuracy >= 0.75, (eval_accuracy, accuracies)
