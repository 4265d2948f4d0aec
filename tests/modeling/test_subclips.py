import torch

from av_emotion.modeling.modules.subclips import audio_lengths, split_audio_into_subclips


def test_each_clip_is_cut_along_its_own_length():
    frames = torch.arange(10.0).expand(2, 3, 10).clone()  # value = frame index, 3 mel bins
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False  # clip 1: 7 frames, then padding
    mask[1, 2] = False  # and a hole, which keeps the clip's time axis
    segments, lengths, frame_mask = split_audio_into_subclips(frames, mask, 3)
    assert segments.shape == (2, 3, 3, 4) and frame_mask.shape == (2, 3, 4)
    # Clip 0 (10 frames): [0, 3), [3, 6), [6, 10). Clip 1 (7 frames): [0, 2), [2, 4), [4, 7).
    assert lengths.tolist() == [[3, 3, 4], [2, 2, 3]]
    assert segments[0, :, 0].tolist() == [[0, 1, 2, 0], [3, 4, 5, 0], [6, 7, 8, 9]]
    assert segments[1, :, 0].tolist() == [[0, 1, 0, 0], [0, 3, 0, 0], [4, 5, 6, 0]]
    assert frame_mask[1].tolist() == [
        [True, True, False, False],
        [False, True, False, False],
        [True, True, True, False],
    ]


def test_lengths_come_from_the_last_valid_frame():
    mask = torch.tensor([[True, True, False, False], [False, False, False, False], [True, False, True, False]])
    assert audio_lengths(mask, 3, 4, mask.device).tolist() == [2, 0, 3]
    assert audio_lengths(None, 2, 5, mask.device).tolist() == [5, 5]
    segments, lengths, frame_mask = split_audio_into_subclips(torch.ones(3, 1, 4), mask, 2)
    assert lengths[1].tolist() == [0, 0] and not frame_mask[1].any() and not segments[1].any()
