import pytest
import torch

from av_emotion.modeling.modules.resnet import Conv2Plus1d, ResNet2dEncoder, ResNet3dEncoder, masked_feature_mean


@pytest.mark.parametrize("conv_type", ["3d", "2plus1d"])
def test_resnet3d_shapes_and_downsampling(conv_type):
    enc = ResNet3dEncoder(depth=10, widths=(4, 8, 8, 16), conv_type=conv_type)
    out = enc(torch.randn(2, 3, 8, 32, 32))
    # stem /2 in space, stages 2-4 /2 in space and time: 32 -> 16 -> 2, 8 -> 1
    assert out.shape == (2, 16, 1, 2, 2)


def test_resnet3d_keeps_time_when_asked():
    enc = ResNet3dEncoder(depth=10, widths=(4, 4, 4, 4), temporal_downsample=False)
    assert enc(torch.randn(1, 3, 5, 16, 16)).shape[2] == 5


def test_2plus1d_matches_3d_parameter_count():
    full = torch.nn.Conv3d(64, 64, 3, bias=False)
    factorised = Conv2Plus1d(64, 64)
    n_full = sum(p.numel() for p in full.parameters())
    n_fact = sum(p.numel() for p in factorised.parameters() if p.ndim == 5)
    assert abs(n_fact - n_full) / n_full < 0.02


def test_resnet2d_shapes():
    enc = ResNet2dEncoder(depth=18, widths=(4, 8, 8, 16))
    assert enc(torch.randn(3, 1, 64, 100)).shape == (3, 16, 2, 4)


def test_bad_shapes_and_depth_raise():
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet3dEncoder(depth=50)
    with pytest.raises(ValueError, match=r"\(batch, channels, frames, height, width\)"):
        ResNet3dEncoder(depth=10, widths=(4, 4, 4, 4))(torch.randn(3, 8, 16, 16))


@pytest.mark.parametrize("stem_pool", [True, False])
def test_resnet2d_with_lengths_matches_each_input_cut_and_run_alone(stem_pool):
    torch.manual_seed(0)
    enc = ResNet2dEncoder(depth=18, widths=(4, 8, 8, 16), stem_pool=stem_pool)
    # Non-trivial eval batch-norm (a running mean and bias that would turn zero padding into signal).
    for module in enc.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.5, 0.5)
    enc.eval()
    lengths = torch.tensor([37, 20, 1, 0])
    spectrogram = 10.0 * torch.randn(4, 1, 16, 40)  # noise past each length must be ignored
    with torch.no_grad():
        padded = enc(spectrogram, lengths)
        out_lengths = enc.output_lengths(lengths)
        for index, length in enumerate(lengths.tolist()[:3]):
            alone = enc(spectrogram[index : index + 1, :, :, :length])
            assert alone.shape[-1] == out_lengths[index]
            torch.testing.assert_close(padded[index : index + 1, ..., : alone.shape[-1]], alone, rtol=0, atol=1e-5)
            assert not padded[index, ..., alone.shape[-1] :].any()
        assert not padded[3].any()
        # Masked mean pooling: the mean of the valid output only; zeros for an empty input.
        pooled = masked_feature_mean(padded, out_lengths)
        torch.testing.assert_close(pooled[0], enc(spectrogram[:1, :, :, :37]).mean(dim=(2, 3))[0], rtol=0, atol=1e-5)
        assert not pooled[3].any()
        # Without lengths nothing changes from the plain forward.
        torch.testing.assert_close(enc(spectrogram), enc(spectrogram, torch.full((4,), 40)))
