import pytest
import torch

from av_emotion.data.collate import AVEmotionCollator, pad_and_stack, pad_processed
from av_emotion.training.augmentation import augment_batch, augmentation_generator
from av_emotion.training.config import AugmentationSection
from tests.data.fake_media import write_clip
from tests.training.tiny_components import TinyProcessor


def test_pad_and_stack_lengths():
    stacked, lengths = pad_and_stack([torch.ones(2, 3), torch.ones(2, 5)], axis=-1)
    assert stacked.shape == (2, 2, 5) and lengths.tolist() == [3, 5]
    assert stacked[0, :, 3:].abs().sum() == 0


def test_pad_processed_builds_masks_and_labels():
    examples = [
        {"pixel_values_videos": torch.rand(2, 3, 4, 4), "input_features": torch.rand(5, 7), "labels": 1},
        {"pixel_values_videos": torch.rand(3, 3, 4, 4), "input_features": torch.rand(5, 4), "labels": 0},
    ]
    batch = pad_processed(examples)
    assert batch["pixel_values_videos"].shape == (2, 3, 3, 4, 4)
    assert batch["input_features"].shape == (2, 5, 7)
    assert batch["video_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["audio_mask"].sum(dim=1).tolist() == [7, 4]
    assert batch["labels"].tolist() == [1, 0] and batch["labels"].dtype == torch.int64


def test_processed_rows_with_the_builders_label_column_get_labels():
    """Builders name the class column `label`; the batch must carry it as `labels` (what forward and Trainer read)."""
    examples = [
        {"pixel_values_videos": torch.rand(2, 3, 4, 4), "input_features": torch.rand(5, 7), "label": 4},
        {"pixel_values_videos": torch.rand(2, 3, 4, 4), "input_features": torch.rand(5, 7), "label": 2},
    ]
    batch = AVEmotionCollator()(examples)
    assert batch["labels"].tolist() == [4, 2] and "label" not in batch
    renamed = AVEmotionCollator(label_column="emotion")([{**e, "emotion": e.pop("label")} for e in examples])
    assert renamed["labels"].tolist() == [4, 2]


def test_on_the_fly_collation_and_media_errors(tmp_path, monkeypatch):
    good = [write_clip(tmp_path / f"{i}.mp4", seed=i) for i in range(2)]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    rows = [{"video": str(path), "audio": None, "label": index} for index, path in enumerate(good)]
    broken = {"video": str(bad), "audio": None, "label": 1}
    collator = AVEmotionCollator(processor=TinyProcessor())
    batch = collator(rows)
    assert batch["pixel_values_videos"].shape == (2, 4, 3, 8, 8) and batch["labels"].tolist() == [0, 1]
    # The tiny processor raises PyAV's errors; count them as media errors here.
    import av

    monkeypatch.setattr("av_emotion.data.collate.media_error_types", lambda: (av.FFmpegError,))
    batch = collator([*rows, broken])
    assert batch["labels"].tolist() == [0, 1]  # the undecodable clip is left out of its batch...
    assert [path for path, _ in collator.skipped] == [str(bad)]  # ...and recorded
    with pytest.raises(av.FFmpegError):
        AVEmotionCollator(processor=TinyProcessor(), on_media_error="raise")([*rows, broken])
    with pytest.raises(RuntimeError, match="no clip of this batch"):
        collator([broken, broken])
    with pytest.raises(ValueError, match="processor"):
        AVEmotionCollator()(rows)


def test_regression_targets():
    collator = AVEmotionCollator(target_columns=["valence", "arousal"])
    labels = collator.labels_of([{"valence": 0.5, "arousal": -0.1}, {"valence": 0.0, "arousal": 1.0}])
    assert labels.dtype == torch.float32 and torch.allclose(labels, torch.tensor([[0.5, -0.1], [0.0, 1.0]]))


def test_augmentation_is_deterministic_per_position():
    batch = {"pixel_values_videos": torch.rand(4, 2, 3, 5, 6), "input_features": torch.rand(4, 8, 20)}
    section = AugmentationSection(video_flip_prob=0.5, freq_mask_param=3, time_mask_param=5)
    first = augment_batch(batch, section, augmentation_generator(1, 0, 3))
    again = augment_batch(batch, section, augmentation_generator(1, 0, 3))
    other = augment_batch(batch, section, augmentation_generator(1, 0, 4))
    for key in batch:
        assert torch.equal(first[key], again[key])
    assert any(not torch.equal(first[key], other[key]) for key in batch)
    # Flipped clips are exact mirror images; the input batch is untouched.
    for index in range(4):
        clip, out = batch["pixel_values_videos"][index], first["pixel_values_videos"][index]
        assert torch.equal(out, clip) or torch.equal(out, clip.flip(-1))
    assert not torch.equal(first["input_features"], batch["input_features"])


def test_pad_processed_restores_flat_arrays():
    video, features = torch.rand(2, 3, 4, 4), torch.rand(5, 6)
    example = {
        "pixel_values_videos": video.reshape(-1),
        "pixel_values_videos_shape": torch.tensor([2, 3, 4, 4]),
        "input_features": features.reshape(-1),
        "input_features_shape": torch.tensor([5, 6]),
        "has_video": torch.tensor(True),
        "labels": torch.tensor(3),
    }
    batch = pad_processed([example, example])
    assert torch.equal(batch["pixel_values_videos"][1], video) and torch.equal(batch["input_features"][0], features)
    assert batch["labels"].tolist() == [3, 3] and "pixel_values_videos_shape" not in batch


def test_audio_crop_takes_a_random_window_inside_the_valid_frames():
    frames = torch.arange(40, dtype=torch.float32)
    features = frames.expand(6, 3, 40).clone()  # every bin of clip i at frame t holds t
    mask = torch.ones(6, 40, dtype=torch.bool)
    mask[0, 25:] = False  # clip 0 has 25 valid frames, then padding
    section = AugmentationSection(audio_crop_frames=10)
    starts = set()
    for micro_batch in range(20):
        out = augment_batch(
            {"input_features": features, "audio_mask": mask}, section, augmentation_generator(0, 0, micro_batch)
        )
        assert out["input_features"].shape == (6, 3, 10) and out["audio_mask"].shape == (6, 10)
        for index in range(6):
            start = int(out["input_features"][index, 0, 0])
            # A contiguous window of the clip, with its own mask, starting where the clip still has 10 frames.
            assert torch.equal(out["input_features"][index, 1], frames[start : start + 10])
            assert torch.equal(out["audio_mask"][index], mask[index, start : start + 10])
            assert start <= (15 if index == 0 else 30)
            starts.add(start)
    assert len(starts) > 10  # the window moves
    assert features.shape == (6, 3, 40)  # the input batch is untouched
    # A batch no longer than the window is left whole.
    short = augment_batch({"input_features": features[:, :, :10]}, section, augmentation_generator(0, 0, 0))
    assert torch.equal(short["input_features"], features[:, :, :10])


def test_flip_picks_cached_outputs_of_the_orientation_the_pixels_would_get():
    """With the feature cache, the flip's draw selects the flipped clip's encoder outputs for exactly the clips whose
    pixels it would flip (an encoder that reads the first pixel column tells the orientation apart)."""
    from av_emotion.training.augmentation import FLIPPED_VIDEO_OUTPUTS

    videos = torch.randn(16, 2, 3, 4, 5)

    def encoder(pixels):
        return pixels[..., 0].reshape(pixels.shape[0], 2, -1)  # (B, L, C), like pooled sub-clip outputs

    section = AugmentationSection(video_flip_prob=0.5)
    for seed in range(3):
        pixel_batch = augment_batch({"pixel_values_videos": videos}, section, torch.Generator().manual_seed(seed))
        cached_batch = {"video_encoder_outputs": encoder(videos), FLIPPED_VIDEO_OUTPUTS: encoder(videos.flip(-1))}
        cached_batch = augment_batch(cached_batch, section, torch.Generator().manual_seed(seed))
        assert FLIPPED_VIDEO_OUTPUTS not in cached_batch  # not a model input
        assert torch.equal(cached_batch["video_encoder_outputs"], encoder(pixel_batch["pixel_values_videos"]))
        flipped = ~(pixel_batch["pixel_values_videos"] == videos).flatten(1).all(dim=1)
        assert 0 < flipped.sum() < 16
