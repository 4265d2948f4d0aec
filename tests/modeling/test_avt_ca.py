"""AVT-CA: tiny-config forward/backward, masks, attention maps, heads, save/load, modality dropout, learning."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel

from av_emotion import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AVTCAConfig,
    AVTCAForEmotionClassification,
    AVTCAModel,
)
from av_emotion.modeling.avt_ca.modeling_avt_ca import AVTCAAttentionBlock
from tests.modeling.tiny_configs import TINY_CONFIGS

FRAMES, SIZE, AUDIO_FRAMES = 4, 16, 12


def tiny_config(**overrides) -> AVTCAConfig:
    return AVTCAConfig(**{**TINY_CONFIGS["avt_ca"], **overrides})


def inputs(batch: int, frames: int = FRAMES, audio_frames: int = AUDIO_FRAMES) -> dict[str, torch.Tensor]:
    return {
        "pixel_values_videos": torch.randn(batch, frames, 3, SIZE, SIZE),
        "input_features": torch.randn(batch, TINY_CONFIGS["avt_ca"]["num_audio_features"], audio_frames),
    }


def eval_model(**overrides) -> AVTCAForEmotionClassification:
    return AVTCAForEmotionClassification(tiny_config(**overrides)).eval()


# ---------------------------------------------------------------- config


def test_config_defaults_follow_the_paper_and_chumachenko():
    config = AVTCAConfig()
    assert config.model_type == "avt_ca"
    assert config.fusion_num_heads == 4 and config.cross_attention_num_heads == 4  # IT-4 / CT-4
    assert config.num_audio_features == 10 and config.num_frames == 15 and config.image_size == 224
    assert config.visual_stage_channels == [29, 116, 232, 464, 1024]
    assert config.num_labels == 8
    assert list(config.id2label.values()) == [
        "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
    ]  # fmt: skip
    assert config.label2id["angry"] == 4
    assert AVTCAConfig(num_labels=6).num_labels == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fusion_num_heads": 3}, "fusion_num_heads=3 must be positive and divide"),
        ({"cross_attention_num_heads": 5}, "cross_attention_num_heads=5"),
        ({"audio_stage2_channels": [256, 64]}, "must match: the pooled audio and video vectors are added"),
        ({"temporal_kernel_size": 4}, "must be odd"),
        ({"visual_stage_channels": [29, 100, 232, 464, 1024]}, "must be a multiple of visual_stage_channels"),
        ({"modality_dropout_prob": 1.5}, r"modality_dropout_prob must be in \[0, 1\]"),
        ({"image_size": 200}, "must be divisible by 16"),
    ],
)
def test_config_rejects_inconsistent_shapes(overrides, message):
    with pytest.raises(ValueError, match=message):
        AVTCAConfig(**overrides)


def test_registered_with_auto_classes():
    entry = ARCHITECTURES["avt_ca"]
    assert entry.config_class is AVTCAConfig and entry.model_class is AVTCAModel
    assert entry.classification_class is AVTCAForEmotionClassification
    assert type(AutoConfig.for_model("avt_ca")) is AVTCAConfig
    assert type(AutoModel.from_config(tiny_config())) is AVTCAModel
    assert type(AutoModelForAudioVideoClassification.from_config(tiny_config())) is AVTCAForEmotionClassification


# ---------------------------------------------------------------- forward / backward


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_backward_reaches_every_parameter(batch):
    model = AVTCAForEmotionClassification(tiny_config(modality_dropout_prob=0.0)).train()
    labels = torch.randint(0, model.config.num_labels, (batch,))
    out = model(**inputs(batch), labels=labels, output_embeddings=True)
    assert out.logits.shape == (batch, 8)
    assert out.embeddings.shape == (batch, model.config.hidden_size)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters outside the graph: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_loss_is_cross_entropy_and_tuple_output():
    model = eval_model()
    batch = inputs(3)
    labels = torch.tensor([0, 5, 7])
    out = model(**batch, labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    loss, logits = model(**batch, labels=labels, return_dict=False)  # embeddings only when asked
    torch.testing.assert_close(logits, out.logits)
    _, _, embeddings = model(**batch, labels=labels, return_dict=False, output_embeddings=True)
    torch.testing.assert_close(embeddings, model.avt_ca(**batch).embeddings)


def test_base_model_returns_embeddings_only():
    model = AVTCAModel(tiny_config()).eval()
    out = model(**inputs(2))
    assert out.logits is None and out.embeddings.shape == (2, 8)


def test_dummy_inputs_follow_the_input_recipe():
    model = eval_model()
    dummy = model.dummy_inputs
    assert dummy["pixel_values_videos"].shape == (2, FRAMES, 3, SIZE, SIZE)
    assert model(**dummy).logits.shape == (2, 8)


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("values", ["own", "other"])
def test_missing_modality_by_mask_equals_running_that_modality_alone(values):
    model = eval_model(pre_cross_attention_values=values)
    batch = inputs(3)
    video_mask = torch.ones(3, FRAMES, dtype=torch.bool)
    audio_mask = torch.ones(3, AUDIO_FRAMES, dtype=torch.bool)
    audio_mask[1] = False  # sample 1: video only
    video_mask[2] = False  # sample 2: audio only
    with torch.no_grad():
        mixed = model(**batch, video_mask=video_mask, audio_mask=audio_mask).logits
        video_only = model(pixel_values_videos=batch["pixel_values_videos"][1:2]).logits
        audio_only = model(input_features=batch["input_features"][2:3]).logits
        full = model(**{k: v[0:1] for k, v in batch.items()}).logits
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed[1:2], video_only)
    torch.testing.assert_close(mixed[2:3], audio_only)
    torch.testing.assert_close(mixed[0:1], full)
    # the masked-out content really is ignored
    batch["input_features"][1] = 1e3
    batch["pixel_values_videos"][2] = -1e3
    with torch.no_grad():
        perturbed = model(**batch, video_mask=video_mask, audio_mask=audio_mask).logits
    torch.testing.assert_close(perturbed, mixed)


@pytest.mark.parametrize("values", ["own", "other"])
@pytest.mark.parametrize("training", [False, True])
def test_padded_steps_match_the_truncated_clip(training, values):
    # in training too: batch-norm statistics come from the valid frames and steps only
    config = tiny_config(modality_dropout_prob=0.0, pre_cross_attention_values=values)
    model = AVTCAForEmotionClassification(config).train(training)
    long = inputs(1, frames=6, audio_frames=16)
    video_mask = torch.tensor([[True] * 4 + [False] * 2])
    audio_mask = torch.tensor([[True] * 11 + [False] * 5])
    long["pixel_values_videos"][:, 4:] = 5.0  # padding content must not matter
    long["input_features"][:, :, 11:] = -5.0
    short = {
        "pixel_values_videos": long["pixel_values_videos"][:, :4],
        "input_features": long["input_features"][:, :, :11],
    }
    with torch.no_grad():
        padded = model(**long, video_mask=video_mask, audio_mask=audio_mask).logits
        truncated = model(**short).logits
    torch.testing.assert_close(padded, truncated)


def test_training_with_a_missing_modality_has_no_nans():
    model = AVTCAForEmotionClassification(tiny_config(modality_dropout_prob=0.0)).train()
    batch = inputs(3)
    audio_mask = torch.ones(3, AUDIO_FRAMES, dtype=torch.bool)
    audio_mask[:] = False  # no audio in the whole batch
    out = model(**batch, audio_mask=audio_mask, labels=torch.tensor([1, 2, 3]), output_attentions=True)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert (out.attentions["cross_video_to_audio"] == 0).all()


def test_fusion_block_passes_the_stream_through_when_the_context_is_absent():
    block = AVTCAAttentionBlock(8, 6, 2, mlp_ratio=2.0, attention_dropout=0.0, hidden_dropout=0.0, layer_norm_eps=1e-5)
    block.eval()
    hidden, context = torch.randn(2, 5, 8), torch.randn(2, 3, 6)
    query_mask = torch.tensor([[True] * 5, [True] * 4 + [False]])
    key_mask = torch.tensor([[False] * 3, [True, True, False]])
    out, probs = block(hidden, query_mask, context, key_mask, output_attentions=True)
    torch.testing.assert_close(out[0], hidden[0])  # no context: unchanged
    assert not torch.allclose(out[1, :4], hidden[1, :4])  # context: updated
    assert (out[1, 4] == 0).all()  # padded query step stays zero
    assert (probs[0] == 0).all() and (probs[1, :, :, 2] == 0).all()
    torch.testing.assert_close(probs[1].sum(-1), torch.ones(2, 5))


# ---------------------------------------------------------------- attention maps and heads


def attention_shapes(model, batch) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    return {name: tuple(value.shape) for name, value in out.attentions.items()}


def test_output_attentions_shapes_and_normalisation():
    model = eval_model()
    batch = inputs(3)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
        plain = model(**batch)
    # audio: 12 frames -> stage 1 (one max-pool 2/1) 11 -> stage 2 10
    assert {name: tuple(v.shape) for name, v in out.attentions.items()} == {
        "fusion_audio_to_video": (3, 2, 11, FRAMES),
        "fusion_video_to_audio": (3, 2, FRAMES, 11),
        "self_audio": (3, 2, 10, 10),
        "self_video": (3, 2, FRAMES, FRAMES),
        "cross_audio_to_video": (3, 2, 10, FRAMES),
        "cross_video_to_audio": (3, 2, FRAMES, 10),
    }
    for probs in out.attentions.values():
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))
    # the explicit (eager) path and the fused SDPA path compute the same model
    torch.testing.assert_close(out.logits, plain.logits)
    assert plain.attentions is None


def test_heads_are_configurable():
    batch = inputs(2)
    two = attention_shapes(eval_model(fusion_num_heads=2, cross_attention_num_heads=2), batch)
    four = attention_shapes(eval_model(fusion_num_heads=4, cross_attention_num_heads=4), batch)
    mixed = attention_shapes(eval_model(fusion_num_heads=1, cross_attention_num_heads=4), batch)
    assert all(two[name][1] == 2 and four[name][1] == 4 for name in two)
    assert two != four
    assert mixed["fusion_audio_to_video"][1] == 1 and mixed["cross_audio_to_video"][1] == 4
    assert AVTCAModel(tiny_config(fusion_num_heads=4)).fusion_audio_to_video.attention.num_heads == 4


def test_self_attention_can_be_disabled():
    model = eval_model(use_self_attention=False)
    assert "self_audio" not in attention_shapes(model, inputs(1))
    assert not any("self_attention" in name for name, _ in model.named_parameters())


def test_block_before_cross_attention_can_take_values_from_the_other_modality():
    # The paper's figure: q and k from the own modality, v from the other (config.pre_cross_attention_values).
    own, other = eval_model(), eval_model(pre_cross_attention_values="other")
    assert other.avt_ca.self_attention_audio.key_norm is not None and own.avt_ca.self_attention_audio.key_norm is None
    batch = inputs(2)
    with torch.no_grad():
        maps = other(**batch, output_attentions=True).attentions
        # Attention weights are over the own steps (L2 = L - 2 audio steps in the tiny config, T frames)...
        assert maps["self_audio"].shape[-2:] == (AUDIO_FRAMES - 2, AUDIO_FRAMES - 2)
        assert maps["self_video"].shape[-2:] == (FRAMES, FRAMES)
        # ...and the other modality's content reaches each branch through the values.
        reference = other(**batch).logits
        changed = dict(batch, pixel_values_videos=batch["pixel_values_videos"] + 1.0)
        assert not torch.allclose(other(**changed).logits, reference)
    with pytest.raises(ValueError, match="pre_cross_attention_values must be 'own'"):
        tiny_config(pre_cross_attention_values="both")


def test_align_steps_interpolates_in_clip_time_per_clip():
    from av_emotion.modeling.avt_ca.modeling_avt_ca import align_steps

    source = torch.tensor([[0.0, 10.0, 0.0, 0.0], [0.0, 10.0, 20.0, 30.0]])[:, :, None]
    source_mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    target_mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    aligned, mask = align_steps(source, source_mask, target_mask)
    # Clip 0: 2 source steps at t = 0.25, 0.75 onto 4 at t = 0.125 ... 0.875 -> positions -0.25, 0.25, 0.75, 1.25.
    torch.testing.assert_close(aligned[0, :, 0], torch.tensor([0.0, 2.5, 7.5, 10.0]))
    # Clip 1: 4 source steps onto 2 -> positions 0.5 and 2.5; the padded target steps are zero.
    torch.testing.assert_close(aligned[1, :, 0], torch.tensor([5.0, 25.0, 0.0, 0.0]))
    assert mask.tolist() == target_mask.tolist()
    empty, empty_mask = align_steps(source, torch.zeros(2, 4, dtype=torch.bool), target_mask)
    assert not empty.any() and not empty_mask.any()


# ---------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    model = AVTCAForEmotionClassification(tiny_config(fusion_num_heads=1))
    model.train()
    model(**inputs(3))  # move the batch-norm running statistics away from their initial values
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    saved = load_file(tmp_path / "model.safetensors")
    assert any(key.endswith("running_mean") for key in saved)

    loaded, info = AutoModelForAudioVideoClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert type(loaded) is AVTCAForEmotionClassification
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert loaded.config.fusion_num_heads == 1 and loaded.config.id2label == model.config.id2label
    batch = inputs(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**batch).logits, model(**batch).logits)
    base = AutoModel.from_pretrained(tmp_path)  # the encoder alone, from the head's checkpoint
    with torch.no_grad():
        torch.testing.assert_close(base.eval()(**batch).embeddings, model(**batch, output_embeddings=True).embeddings)


# ---------------------------------------------------------------- modality dropout


def test_modality_dropout_only_in_training_and_never_both():
    model = AVTCAModel(tiny_config(modality_dropout_prob=1.0))
    n = 400
    video_mask = torch.ones(n, FRAMES, dtype=torch.bool)
    audio_mask = torch.ones(n, AUDIO_FRAMES, dtype=torch.bool)
    audio_mask[:50] = False  # already video-only: must keep its video
    video_mask[50:100] = False  # already audio-only: must keep its audio

    model.eval()
    v, a = model.apply_modality_dropout(video_mask, audio_mask)
    assert torch.equal(v, video_mask) and torch.equal(a, audio_mask)

    model.train()
    v, a = model.apply_modality_dropout(video_mask, audio_mask)
    has_video, has_audio = v.any(-1), a.any(-1)
    assert (has_video | has_audio).all()  # never both
    assert has_video[:50].all() and has_audio[50:100].all()  # never the only modality
    assert (has_video[100:] ^ has_audio[100:]).all()  # probability 1: every eligible sample lost exactly one
    dropped_audio = (~has_audio[100:]).float().mean()
    assert 0.4 < dropped_audio < 0.6  # audio or video with equal probability
    assert torch.equal(v[has_video], video_mask[has_video])  # rows kept are untouched

    model.config.modality_dropout_prob = 0.3
    v, a = model.apply_modality_dropout(video_mask[100:].repeat(10, 1), audio_mask[100:].repeat(10, 1))
    rate = (~(v.any(-1) & a.any(-1))).float().mean()
    assert 0.25 < rate < 0.35


def test_dropping_every_video_of_a_batch_keeps_the_encoder_in_the_graph(monkeypatch):
    # DDP without find_unused_parameters fails on a step where a parameter gets no gradient
    model = AVTCAForEmotionClassification(tiny_config()).train()
    monkeypatch.setattr(model.avt_ca, "apply_modality_dropout", lambda v, a: (torch.zeros_like(v), a))
    model(**inputs(2), labels=torch.tensor([0, 1])).loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all((p.grad == 0).all() for p in model.avt_ca.video_encoder.parameters())  # but learns nothing


def test_modality_dropout_changes_training_outputs_not_evaluation():
    model = AVTCAForEmotionClassification(tiny_config(modality_dropout_prob=1.0))
    batch = inputs(4)
    model.eval()
    with torch.no_grad():
        first, second = model(**batch).logits, model(**batch).logits
    torch.testing.assert_close(first, second)
    model.train()
    out = model(**batch, output_attentions=True)
    assert torch.isfinite(out.logits).all()
    # each sample lost one modality, so for each one cross-attention direction saw no keys
    no_video = (out.attentions["cross_audio_to_video"] == 0).flatten(1).all(-1)
    no_audio = (out.attentions["cross_video_to_audio"] == 0).flatten(1).all(-1)
    assert (no_video ^ no_audio).all()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("training", [False, True])
def test_precomputed_frame_encoder_outputs_give_the_frames_result(training):
    """encode_video once (a frozen frame encoder), then forward from its outputs: same logits, loss, gradients,
    with modality dropout drawing the same in training."""
    torch.manual_seed(0)
    model = AVTCAForEmotionClassification(tiny_config(num_labels=3, modality_dropout_prob=1.0))
    encoder = model.avt_ca.video_encoder
    encoder.requires_grad_(False)
    model.train(training)
    encoder.eval()  # frozen: running statistics, as the recipes' EncoderFreezer keeps them
    batch = inputs(4)
    video_mask = torch.ones(4, FRAMES, dtype=torch.bool)
    video_mask[1, 3:] = False  # padded frame
    video_mask[2] = False  # no video
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        frames, frame_mask = model.avt_ca.encode_video(batch["pixel_values_videos"], video_mask)
    assert frames.shape == (4, FRAMES, encoder.out_channels) and torch.equal(frame_mask, video_mask)

    if training:  # the draws below drop the video of some clip, which the cached path must drop too
        torch.manual_seed(1)
        dropped, _ = model.avt_ca.apply_modality_dropout(video_mask, torch.ones(4, AUDIO_FRAMES, dtype=torch.bool))
        assert (video_mask.any(dim=1) & ~dropped.any(dim=1)).any()
    torch.manual_seed(1)
    raw = model(**batch, video_mask=video_mask, labels=labels)
    raw.loss.backward()
    raw_grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    torch.manual_seed(1)  # modality dropout and dropout draw the same
    cached = model(
        input_features=batch["input_features"],
        video_encoder_outputs=frames,
        video_encoder_mask=frame_mask,
        labels=labels,
    )
    cached.loss.backward()
    torch.testing.assert_close(cached.logits, raw.logits, rtol=0, atol=1e-5)
    assert raw_grads and not any(name.startswith("avt_ca.video_encoder.") for name in raw_grads)
    for name, grad in raw_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="either pixel_values_videos .* or video_encoder_outputs"):
        model(**batch, video_encoder_outputs=frames)
    with pytest.raises(ValueError, match=r"video_encoder_outputs must be \(batch, frames"):
        model(input_features=batch["input_features"], video_encoder_outputs=frames[..., :-1])


def test_input_errors_name_the_input():
    model = eval_model()
    batch = inputs(2)
    with pytest.raises(ValueError, match="needs pixel_values_videos, input_features, or both"):
        model()
    with pytest.raises(ValueError, match=r"pixel_values_videos must be \(batch, frames, channels"):
        model(pixel_values_videos=batch["pixel_values_videos"][:, :, :1])
    with pytest.raises(ValueError, match=r"input_features must be \(batch, 4 features, frames\)"):
        model(input_features=torch.randn(2, 5, 12))
    # tiny config: one max-pool (kernel 2, stride 1) per audio stage, so at least 3 frames
    with pytest.raises(ValueError, match="fewer than the 3 the audio max-pools need"):
        model(input_features=torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"video_mask must be \(batch, frames\)"):
        model(**batch, video_mask=torch.ones(2, FRAMES + 1, dtype=torch.bool))


def test_short_all_padding_audio_is_treated_as_missing():
    # A batch whose clips all lack audio may carry a placeholder shorter than the max-pools need: with an
    # all-False audio_mask it is no audio at all, exactly as if input_features were left out.
    model = eval_model()
    batch = inputs(2)
    placeholder = torch.randn(2, 4, 2)
    with torch.no_grad():
        without = model(pixel_values_videos=batch["pixel_values_videos"]).logits
        masked = model(
            pixel_values_videos=batch["pixel_values_videos"],
            input_features=placeholder,
            audio_mask=torch.zeros(2, 2, dtype=torch.bool),
        ).logits
    torch.testing.assert_close(masked, without)
    # One valid frame is real audio: too short to pool, so it is refused.
    with pytest.raises(ValueError, match="fewer than the 3 the audio max-pools need"):
        model(input_features=placeholder, audio_mask=torch.tensor([[True, False], [False, False]]))
    with pytest.raises(ValueError, match="divisible by 16"):
        model(pixel_values_videos=torch.randn(2, FRAMES, 3, 24, 24))
    with pytest.raises(ValueError, match="2 clips but input_features has 3"):
        model(pixel_values_videos=batch["pixel_values_videos"], input_features=torch.randn(3, 4, 12))


# ---------------------------------------------------------------- learning


def synthetic_clips(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """4 classes; the video shows class // 2 (bright top or bottom half), the audio class % 2 (which band is loud).

    Each modality alone can tell only 2 of the 4 classes apart (50% at best, chance 25%); fusion gives all 4.
    """
    labels = torch.randint(0, 4, (n,), generator=generator)
    video_bit, audio_bit = labels // 2, labels % 2
    rows = torch.arange(SIZE)
    bright = torch.where(video_bit[:, None] == 0, rows < SIZE // 2, rows >= SIZE // 2).float()
    video = 0.5 * torch.randn(n, FRAMES, 3, SIZE, SIZE, generator=generator) + bright[:, None, None, :, None]
    audio = 0.5 * torch.randn(n, 4, AUDIO_FRAMES, generator=generator)
    audio[torch.arange(n), audio_bit] += 1.0
    return video, audio, labels


def test_learns_a_synthetic_task_and_survives_a_missing_modality():
    generator = torch.Generator().manual_seed(0)
    train_video, train_audio, train_labels = synthetic_clips(256, generator)
    test_video, test_audio, test_labels = synthetic_clips(256, generator)
    model = AVTCAForEmotionClassification(tiny_config(num_labels=4, modality_dropout_prob=0.5))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def accuracies() -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            predictions = {
                "both": model(pixel_values_videos=test_video, input_features=test_audio).logits.argmax(-1),
                "video": model(pixel_values_videos=test_video).logits.argmax(-1),
                "audio": model(input_features=test_audio).logits.argmax(-1),
            }
        return {name: (p == test_labels).float().mean().item() for name, p in predictions.items()}

    before = accuracies()
    losses = []
    for _ in range(60):
        index = torch.randint(0, 256, (32,), generator=generator)
        model.train()
        loss = model(
            pixel_values_videos=train_video[index], input_features=train_audio[index], labels=train_labels[index]
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = accuracies()

    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10
    assert before["both"] < 0.45
    assert after["both"] > 0.9  # chance 0.25; only fusion can exceed 0.5
    # one modality masked: still above chance (at most 0.5 is possible from one modality)
    assert after["video"] > 0.4 and after["audio"] > 0.4
