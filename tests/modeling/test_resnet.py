import itertools

import pytest
import torch

from av_emotion.modeling.modules.resnet import (
    BasicBlock2d,
    BasicBlock3d,
    Conv2Plus1d,
    ResNet2dEncoder,
    ResNet3dEncoder,
    masked_feature_mean,
)


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


# --- float64 references written from the equations (He et al. 2016; Tran et al. 2018) ------------------


def _reference_conv(x, weight, stride, padding):
    """Cross-correlation of x (C, *S) with weight (O, C, *K), zero padding, by summing shifted slices."""
    x = torch.nn.functional.pad(x, [p for pad in reversed(padding) for p in (pad, pad)])
    kernel = weight.shape[2:]
    out_size = [(x.shape[1 + axis] - kernel[axis]) // stride[axis] + 1 for axis in range(len(kernel))]
    out = torch.zeros(weight.shape[0], *out_size, dtype=x.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        window = x[
            (slice(None),)
            + tuple(
                slice(o, o + stride[axis] * (out_size[axis] - 1) + 1, stride[axis]) for axis, o in enumerate(offset)
            )
        ]
        out += torch.einsum("oc,c...->o...", weight[(slice(None), slice(None), *offset)], window)
    return out


def _reference_conv_module(x, conv):
    return _reference_conv(x, conv.weight, conv.stride, conv.padding)


def _reference_batch_norm(x, bn):
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps) * bn.weight.view(
        shape
    ) + bn.bias.view(shape)


def _reference_any_conv(x, conv):
    if isinstance(conv, Conv2Plus1d):  # spatial 1x3x3, BN, ReLU, temporal 3x1x1 (Tran et al. 2018, §3.5)
        spatial, norm, _, temporal = conv
        hidden = torch.relu(_reference_batch_norm(_reference_conv_module(x, spatial), norm))
        return _reference_conv_module(hidden, temporal)
    return _reference_conv_module(x, conv)


def _reference_basic_block(x, block):
    """y = ReLU(BN2(conv2(ReLU(BN1(conv1(x))))) + shortcut(x)), shortcut = BN(conv1x1(x)) or x (He et al. 2016)."""
    out = torch.relu(_reference_batch_norm(_reference_any_conv(x, block.conv1), block.bn1))
    out = _reference_batch_norm(_reference_any_conv(out, block.conv2), block.bn2)
    if block.downsample is None:
        shortcut = x
    else:
        shortcut = _reference_batch_norm(_reference_conv_module(x, block.downsample[0]), block.downsample[1])
    return torch.relu(out + shortcut)


def _randomise_batch_norms(module):
    for bn in module.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)


@pytest.mark.parametrize(
    ("block_factory", "shape"),
    [
        (lambda: BasicBlock2d(3, 5, stride=2), (3, 9, 11)),
        (lambda: BasicBlock2d(4, 4, stride=1), (4, 6, 7)),
        (lambda: BasicBlock3d(3, 5, (2, 2, 2), "3d"), (3, 5, 7, 6)),
        (lambda: BasicBlock3d(4, 4, (1, 1, 1), "3d"), (4, 3, 5, 5)),
        (lambda: BasicBlock3d(3, 5, (2, 2, 2), "2plus1d"), (3, 5, 7, 6)),
        (lambda: BasicBlock3d(4, 4, (1, 1, 1), "2plus1d"), (4, 3, 5, 5)),
    ],
    ids=["2d-down", "2d-identity", "3d-down", "3d-identity", "2plus1d-down", "2plus1d-identity"],
)
def test_basic_blocks_match_a_float64_reference(block_factory, shape):
    torch.manual_seed(0)
    block = block_factory().double()
    _randomise_batch_norms(block)
    block.eval()
    x = torch.randn(2, *shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        for index in range(2):
            torch.testing.assert_close(out[index], _reference_basic_block(x[index], block), rtol=1e-10, atol=1e-10)


def test_resnet_stems_match_a_float64_reference():
    torch.manual_seed(0)
    video = ResNet3dEncoder(depth=10, widths=(4, 4, 4, 4)).double()
    audio = ResNet2dEncoder(depth=10, widths=(4, 4, 4, 4)).double()
    _randomise_batch_norms(video)
    _randomise_batch_norms(audio)
    video.eval()
    audio.eval()
    clip, spectrogram = torch.randn(3, 4, 10, 10, dtype=torch.float64), torch.randn(1, 12, 14, dtype=torch.float64)
    with torch.no_grad():
        # R3D stem: 3x7x7 convolution, spatial stride 2, then BN and ReLU (Tran et al. 2018).
        expected = torch.relu(_reference_batch_norm(_reference_conv_module(clip, video.stem[0]), video.stem[1]))
        torch.testing.assert_close(video.stem(clip[None])[0], expected, rtol=1e-10, atol=1e-10)
        # ImageNet stem: 7x7 stride 2, BN, ReLU, 3x3 max-pool stride 2 padding 1 (He et al. 2016).
        hidden = torch.relu(_reference_batch_norm(_reference_conv_module(spectrogram, audio.stem[0]), audio.stem[1]))
        padded = torch.nn.functional.pad(hidden, (1, 1, 1, 1), value=float("-inf"))
        rows, cols = (hidden.shape[1] - 1) // 2 + 1, (hidden.shape[2] - 1) // 2 + 1
        pooled = torch.stack(
            [
                torch.stack([padded[:, 2 * r : 2 * r + 3, 2 * c : 2 * c + 3].amax(dim=(1, 2)) for c in range(cols)], -1)
                for r in range(rows)
            ],
            -2,
        )
        torch.testing.assert_close(audio.stem(spectrogram[None])[0], pooled, rtol=1e-10, atol=1e-10)
