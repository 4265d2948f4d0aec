import pytest
import torch

from av_emotion.modeling.modules.masked_batch_norm import MaskedBatchNorm1d


def pair(channels: int = 3):
    reference = torch.nn.BatchNorm1d(channels)
    masked = MaskedBatchNorm1d(channels)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-0.5, 0.5)
    masked.load_state_dict(reference.state_dict())
    return reference, masked


def test_all_valid_mask_is_exactly_batch_norm():
    reference, masked = pair()
    x = torch.randn(4, 3, 7) * 3 + 1
    mask = torch.ones(4, 7, dtype=torch.bool)
    torch.testing.assert_close(masked(x, mask), reference(x))
    torch.testing.assert_close(masked.running_mean, reference.running_mean)
    torch.testing.assert_close(masked.running_var, reference.running_var)
    assert masked.num_batches_tracked == reference.num_batches_tracked == 1


def test_statistics_come_from_valid_steps_only():
    reference, masked = pair()
    x = torch.randn(3, 3, 6) * 2 - 1
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    x_padded = x.masked_fill(~mask[:, None], 100.0)  # padding content must not matter
    out = masked(x_padded, mask)
    # independent computation: plain batch norm over the valid steps gathered into one sequence
    valid = x.permute(0, 2, 1)[mask].T.unsqueeze(0)  # (1, C, n_valid)
    expected = reference(valid)[0].T
    torch.testing.assert_close(out.permute(0, 2, 1)[mask], expected)
    torch.testing.assert_close(masked.running_mean, reference.running_mean)
    torch.testing.assert_close(masked.running_var, reference.running_var)


def test_eval_uses_running_statistics_and_ignores_the_mask():
    reference, masked = pair()
    x = torch.randn(2, 3, 5)
    reference.train()(x)
    masked.train()(x, torch.ones(2, 5, dtype=torch.bool))
    reference.eval(), masked.eval()
    mask = torch.zeros(2, 5, dtype=torch.bool)
    torch.testing.assert_close(masked(x, mask), reference(x))


def test_too_few_valid_steps_fall_back_to_running_statistics():
    _, masked = pair()
    x = torch.randn(2, 3, 4)
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[0, 1] = True
    before = masked.running_mean.clone(), masked.running_var.clone()
    out = masked.train()(x, mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(masked.running_mean, before[0])
    torch.testing.assert_close(masked.running_var, before[1])
    assert masked.num_batches_tracked == 0
    expected = (x - 0.0) / torch.sqrt(torch.tensor(1.0 + masked.eps)) * masked.weight[None, :, None]
    torch.testing.assert_close(out, expected + masked.bias[None, :, None])


def test_bad_mask_shape_raises():
    _, masked = pair()
    with pytest.raises(ValueError, match=r"mask \(batch, length\)"):
        masked(torch.randn(2, 3, 4), torch.ones(2, 5, dtype=torch.bool))
