import pytest
import torch
import torch.nn.functional as F

from av_emotion.modeling.modules.efficientface import (
    EfficientFaceEncoder,
    EfficientFaceInvertedResidual,
    EfficientFaceLocalFeatureExtractor,
    EfficientFaceModulator,
    channel_shuffle,
)


def test_channel_shuffle_interleaves_the_two_halves():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_local_feature_extractor_matches_separate_convolutions_per_patch():
    torch.manual_seed(0)
    extractor = EfficientFaceLocalFeatureExtractor(in_channels=3, out_channels=6, grid=2).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (extractor.bn1, extractor.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 8, 8)
    out = extractor(x)
    assert out.shape == (2, 6, 4, 4)

    # independent computation: EfficientFace's four patch branches, each with its own slice of the weights
    def bn(t, module, index, width):
        sl = slice(index * width, (index + 1) * width)
        return F.batch_norm(
            t, module.running_mean[sl], module.running_var[sl], module.weight[sl], module.bias[sl], eps=module.eps
        )

    expected = torch.empty_like(out)
    for row in range(2):
        for col in range(2):
            p = row * 2 + col
            patch = x[:, :, row * 4 : (row + 1) * 4, col * 4 : (col + 1) * 4]
            w1 = extractor.conv1.weight[p * 6 : (p + 1) * 6]
            h = F.relu(bn(F.conv2d(patch, w1, stride=2, padding=1, groups=3), extractor.bn1, p, 6))
            w2 = extractor.conv2.weight[p * 6 : (p + 1) * 6]
            h = F.relu(bn(F.conv2d(h, w2, padding=1, groups=6), extractor.bn2, p, 6))
            expected[:, :, row * 2 : (row + 1) * 2, col * 2 : (col + 1) * 2] = h
    torch.testing.assert_close(out, expected)


def test_local_feature_extractor_keeps_regions_apart():
    extractor = EfficientFaceLocalFeatureExtractor(2, 4).eval()
    x = torch.zeros(1, 2, 8, 8)
    changed = x.clone()
    changed[:, :, :4, :4] = 1.0  # top-left patch only
    diff = (extractor(changed) - extractor(x)).abs().sum(1)[0]
    assert diff[:2, :2].sum() > 0 and diff[2:].sum() == 0 and diff[:, 2:].sum() == 0


def test_inverted_residual_shapes_and_identity_half():
    down = EfficientFaceInvertedResidual(8, 16, stride=2)
    assert down(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)
    keep = EfficientFaceInvertedResidual(16, 16, stride=1)
    x = torch.randn(2, 16, 4, 4)
    out = keep(x)
    # stride 1 passes the first half through untouched; the shuffle puts it at the even channels
    torch.testing.assert_close(out[:, 0::2], x[:, :8])
    with pytest.raises(ValueError, match="keeps the width"):
        EfficientFaceInvertedResidual(8, 16, stride=1)


def test_modulator_gates_between_zero_and_the_input():
    modulator = EfficientFaceModulator(16, reduction_ratio=4).eval()
    x = torch.rand(3, 16, 6, 6) + 0.1
    out = modulator(x)
    assert out.shape == x.shape and (out > 0).all() and (out < x).all()


def test_encoder_output_and_size_check():
    encoder = EfficientFaceEncoder(stage_repeats=(1, 2, 1), stage_channels=(4, 8, 16, 16, 32), reduction_ratio=4)
    assert encoder(torch.randn(5, 3, 32, 32)).shape == (5, 32)
    with pytest.raises(ValueError, match="divisible by 16"):
        encoder(torch.randn(1, 3, 40, 40))


def test_default_encoder_is_efficientface_sized():
    encoder = EfficientFaceEncoder()
    n_params = sum(p.numel() for p in encoder.parameters())
    # EfficientFace reports 1.28 M parameters with its 7-class classifier (1024 * 7 + 7 of them)
    assert round((n_params + 1024 * 7 + 7) / 1e6, 2) == 1.28
