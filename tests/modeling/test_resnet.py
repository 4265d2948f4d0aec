import pytest
import torch

from av_emotion.modeling.modules.resnet import Conv2Plus1d, ResNet2dEncoder, ResNet3dEncoder


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
