import pytest
import torch
from torch import nn

from av_emotion.modeling.modules.attention import (
    BidirectionalCrossAttention,
    ChannelAttention,
    CrossModalAttention,
    MultiHeadAttention,
    SpatialAttentionPooling,
    TemporalAttention,
)
from av_emotion.modeling.modules.pooling import AttentionPooling, masked_max, masked_mean, masked_softmax

MASK = torch.tensor([[True, True, False, True], [False, False, False, False], [True, False, False, False]])


# --- pooling ---------------------------------------------------------------------------------------


def test_masked_softmax_ignores_masked_entries_and_zeroes_empty_rows():
    scores = torch.randn(3, 4)
    weights = masked_softmax(scores, MASK)
    expected_row0 = torch.softmax(scores[0, [0, 1, 3]], dim=0)
    torch.testing.assert_close(weights[0, [0, 1, 3]], expected_row0)
    assert weights[0, 2] == 0
    assert torch.equal(weights[1], torch.zeros(4))
    assert weights[2, 0] == 1


def test_masked_mean_and_max_against_loops():
    x = torch.randn(3, 4, 5)
    mean, maximum = masked_mean(x, MASK), masked_max(x, MASK)
    for b in range(3):
        valid = x[b, MASK[b]]
        if len(valid):
            torch.testing.assert_close(mean[b], valid.mean(0))
            torch.testing.assert_close(maximum[b], valid.max(0).values)
        else:
            assert torch.equal(mean[b], torch.zeros(5)) and torch.equal(maximum[b], torch.zeros(5))
    torch.testing.assert_close(masked_mean(x), x.mean(1))


def test_attention_pooling_weights_and_masked_values_do_not_matter():
    pool = AttentionPooling(5, 7)
    x = torch.randn(3, 4, 5, requires_grad=True)
    pooled, weights = pool(x, MASK)
    assert pooled.shape == (3, 5) and weights.shape == (3, 4)
    torch.testing.assert_close(weights.sum(1), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(pooled, torch.einsum("bl,blf->bf", weights, x))
    assert torch.equal(pooled[1], torch.zeros(5))
    pooled.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[~MASK], torch.zeros_like(x.grad[~MASK]))
    x2 = x.detach().clone()
    x2[~MASK] = 1e4
    torch.testing.assert_close(pool(x2, MASK)[0], pooled.detach())


def test_pooling_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(batch, length, features\)"):
        masked_mean(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, length\) = \(3, 4\)"):
        masked_mean(torch.randn(3, 4, 5), torch.ones(3, 5, dtype=torch.bool))


# --- multi-head attention ------------------------------------------------------------------------


def _torch_reference(attention: MultiHeadAttention) -> nn.MultiheadAttention:
    hidden = attention.query.in_features
    reference = nn.MultiheadAttention(hidden, attention.num_heads, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(
            torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
        )
        reference.in_proj_bias.copy_(torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]))
        reference.out_proj.weight.copy_(attention.output.weight)
        reference.out_proj.bias.copy_(attention.output.bias)
    return reference


def test_multi_head_attention_matches_torch_with_key_padding_mask():
    attention = MultiHeadAttention(8, num_heads=2).eval()
    reference = _torch_reference(attention).eval()
    query, context = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    key_mask = torch.tensor([[True, True, True, False, False], [True, False, True, True, True]])
    output, weights = attention(query, context, key_mask)
    expected, expected_weights = reference(
        query, context, context, key_padding_mask=~key_mask, need_weights=True, average_attn_weights=False
    )
    assert weights.shape == (2, 2, 3, 5)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(weights, expected_weights)


def test_multi_head_attention_fully_masked_keys_give_zeros_not_nan():
    attention = MultiHeadAttention(8, num_heads=2)
    query = torch.randn(2, 3, 8, requires_grad=True)
    key_mask = torch.tensor([[False] * 4, [True, False, True, False]])
    output, weights = attention(query, torch.randn(2, 4, 8), key_mask)
    assert torch.equal(output[0], torch.zeros(3, 8))
    assert torch.equal(weights[0], torch.zeros(2, 3, 4))
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(2, 3))
    output.sum().backward()
    assert torch.isfinite(query.grad).all()


def test_multi_head_attention_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"hidden_size \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)
    attention = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="same batch"):
        attention(torch.randn(2, 3, 8), torch.randn(3, 3, 8))
    with pytest.raises(ValueError, match=r"key_mask must have shape \(batch, key_length\) = \(2, 3\)"):
        attention(torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.ones(2, 4, dtype=torch.bool))


# --- temporal and cross-modal attention -------------------------------------------------------


def test_temporal_attention_masks_steps_in_and_out():
    block = TemporalAttention(8, num_heads=2).eval()
    x = torch.randn(3, 4, 8)
    output, weights = block(x, MASK)
    assert output.shape == (3, 4, 8) and weights.shape == (3, 2, 4, 4)
    assert torch.equal(output[~MASK], torch.zeros_like(output[~MASK]))
    assert torch.equal(weights[..., 2], torch.zeros_like(weights[..., 2]))  # step 2 is masked everywhere
    assert torch.equal(weights[:, :, 2, :], torch.zeros_like(weights[:, :, 2, :]))  # ...and asks nothing
    torch.testing.assert_close(weights[0, :, [0, 1, 3]].sum(-1), torch.ones(2, 3))
    changed = x.clone()
    changed[~MASK] = 100.0
    torch.testing.assert_close(block(changed, MASK)[0], output)


def test_cross_modal_attention_with_missing_context_leaves_query_alone():
    block = CrossModalAttention(8, num_heads=2, context_size=6).eval()
    query, context = torch.randn(2, 3, 8), torch.randn(2, 5, 6)
    context_mask = torch.tensor([[False] * 5, [True] * 5])
    output, weights = block(query, context, context_mask=context_mask)
    assert output.shape == (2, 3, 8) and weights.shape == (2, 2, 3, 5)
    torch.testing.assert_close(output[0], block.layer_norm(query[0]))
    assert torch.equal(weights[0], torch.zeros(2, 3, 5))
    assert not torch.allclose(output[1], block.layer_norm(query[1]))
    query_mask = torch.tensor([[True, True, True], [True, False, True]])
    output, weights = block(query, context, query_mask, context_mask)
    assert torch.equal(output[1, 1], torch.zeros(8)) and torch.equal(weights[1, :, 1], torch.zeros(2, 5))


def test_bidirectional_cross_attention_shapes_and_directions():
    block = BidirectionalCrossAttention(8, num_heads=4).eval()
    audio, video = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    video_mask = torch.tensor([[True] * 5, [False] * 5])
    audio_out, video_out, audio_to_video, video_to_audio = block(audio, video, None, video_mask)
    assert audio_out.shape == (2, 3, 8) and video_out.shape == (2, 5, 8)
    assert audio_to_video.shape == (2, 4, 3, 5) and video_to_audio.shape == (2, 4, 5, 3)
    # Sample 1 has no video: audio is only normalised, and the video rows are zeroed.
    torch.testing.assert_close(audio_out[1], block.audio_to_video.layer_norm(audio[1]))
    assert torch.equal(video_out[1], torch.zeros(5, 8))
    expected, _ = block.audio_to_video(audio, video, None, video_mask)
    torch.testing.assert_close(audio_out, expected)


# --- channel and spatial attention ---------------------------------------------------------------


@pytest.mark.parametrize("positions", [(6, 7), (2, 3, 4)])
def test_channel_attention_is_squeeze_excitation(positions):
    block = ChannelAttention(16, reduction=4)
    x = torch.randn(2, 16, *positions)
    output, gates = block(x)
    assert output.shape == x.shape and gates.shape == (2, 16)
    assert ((gates > 0) & (gates < 1)).all()
    squeezed = x.reshape(2, 16, -1).mean(-1)
    expected_gates = torch.sigmoid(
        block.hidden_to_gates(torch.relu(block.squeeze_to_hidden(squeezed)))  # W2 ReLU(W1 s)
    )
    torch.testing.assert_close(gates, expected_gates)
    torch.testing.assert_close(output, x * expected_gates.view(2, 16, *[1] * len(positions)))
    assert block.squeeze_to_hidden.out_features == 4
    assert ChannelAttention(8, reduction=16).squeeze_to_hidden.out_features == 4  # min_hidden floor
    with pytest.raises(ValueError, match=r"\(batch, 16, \*positions\)"):
        block(torch.randn(2, 8, 3, 3))


def test_spatial_attention_pooling_weights_over_positions():
    block = SpatialAttentionPooling(6, hidden_size=5)
    x = torch.randn(2, 6, 3, 4)
    pooled, weights = block(x)
    assert pooled.shape == (2, 6) and weights.shape == (2, 3, 4)
    torch.testing.assert_close(weights.sum((1, 2)), torch.ones(2))
    torch.testing.assert_close(pooled, torch.einsum("bhw,bchw->bc", weights, x))
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[:, 0, 0] = True
    pooled_masked, weights_masked = block(x, mask)
    torch.testing.assert_close(pooled_masked, x[:, :, 0, 0])
    assert weights_masked[:, 0, 0].eq(1).all()
