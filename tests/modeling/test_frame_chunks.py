"""Frame-encoder chunks on CPU at inference (`modeling/frame_chunks.py`): same features, fewer pixels a call."""

from __future__ import annotations

import torch
from torch import nn

from av_emotion.modeling.frame_chunks import encode_frames
from tests.modeling.test_avt_ca import FRAMES, SIZE, eval_model, inputs


class CountingEncoder(nn.Module):
    """A small conv encoder with batch norm that records the batch size of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )
        self.calls: list[int] = []

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        self.calls.append(frames.shape[0])
        return self.layers(frames).flatten(1)


def trained_encoder() -> CountingEncoder:
    encoder = CountingEncoder()
    with torch.no_grad():  # running statistics that are not the defaults, so eval differs from train mode
        encoder.layers[1].running_mean.uniform_(-1, 1)
        encoder.layers[1].running_var.uniform_(0.5, 2)
    return encoder.eval()


def test_chunks_give_the_single_call_features():
    torch.manual_seed(0)
    encoder, frames = trained_encoder(), torch.randn(10, 3, 6, 6)
    whole = encode_frames(encoder, frames, chunk_pixels=0)
    chunked = encode_frames(encoder, frames, chunk_pixels=4 * 6 * 6)
    assert encoder.calls == [10, 4, 4, 2]
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_one_call_in_training_or_when_the_frames_fit():
    frames = torch.randn(10, 3, 6, 6)
    encoder = trained_encoder()
    encode_frames(encoder, frames, chunk_pixels=10 * 6 * 6)  # fits
    encode_frames(encoder, frames, chunk_pixels=5 * 6 * 6 - 1)  # 4 frames a call
    encode_frames(encoder, frames, chunk_pixels=1)  # less than a frame: one frame a call
    assert encoder.calls == [10, 4, 4, 2] + [1] * 10
    encoder.calls.clear()
    encode_frames(encoder.train(), frames, chunk_pixels=4 * 6 * 6)  # batch statistics need the whole batch
    assert encoder.calls == [10]


def test_avt_ca_batch_encodes_one_clip_a_call_with_the_same_logits():
    torch.manual_seed(0)
    chunked = eval_model(video_encoder_chunk_pixels=FRAMES * SIZE * SIZE)
    whole = eval_model(video_encoder_chunk_pixels=0)
    whole.load_state_dict(chunked.state_dict())
    calls = []
    chunked.avt_ca.video_encoder.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    batch = inputs(3)
    with torch.no_grad():
        expected = whole(**batch).logits
        logits = chunked(**batch).logits
    assert calls == [FRAMES] * 3
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
    assert not torch.equal(logits[0], logits[1])  # distinct clips: the chunks were put back in order
