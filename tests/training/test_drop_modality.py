"""`data.drop_modality`: a whole run (training, validation, test) without one modality."""

import pytest
import torch

from av_emotion.data.collate import AVEmotionCollator
from av_emotion.training import config_from_dict, train
from tests.training.conftest import tiny_config_dict
from tests.training.tiny_components import TinyAVForClassification


def _rows():
    return [
        {
            "pixel_values_videos": torch.rand(2, 3, 4, 4),
            "input_features": torch.rand(5, 7),
            "video_mask": torch.ones(2, dtype=torch.bool),
            "audio_mask": torch.ones(7, dtype=torch.bool),
            "labels": 1,
        }
        for _ in range(2)
    ]


@pytest.mark.parametrize(
    ("dropped", "kept", "gone"),
    [
        ("video", {"input_features", "audio_mask"}, {"pixel_values_videos", "video_mask"}),
        ("audio", {"pixel_values_videos", "video_mask"}, {"input_features", "audio_mask"}),
    ],
)
def test_collator_leaves_the_dropped_modality_out(dropped, kept, gone):
    rows = _rows()
    full = AVEmotionCollator()(rows)
    batch = AVEmotionCollator(drop_modality=dropped)(rows)
    assert kept <= set(batch) and not gone & set(batch)
    assert set(full) == set(batch) | gone
    for key in kept:
        assert torch.equal(batch[key], full[key])


def test_collator_rejects_an_unknown_modality():
    with pytest.raises(ValueError, match="drop_modality must be None, 'audio' or 'video'"):
        AVEmotionCollator(drop_modality="text")


def test_config_rejects_an_unknown_modality(tmp_path):
    raw = tiny_config_dict(tmp_path, tmp_path / "run")
    raw["data"]["drop_modality"] = "both"
    with pytest.raises(ValueError, match="data.drop_modality must be null, 'audio' or 'video'"):
        config_from_dict(raw)


def test_training_run_never_sees_the_dropped_modality(tiny_corpus, tiny_stack, tmp_path, monkeypatch):
    seen = []
    original = TinyAVForClassification.forward

    def spy(self, pixel_values_videos=None, input_features=None, video_mask=None, audio_mask=None, labels=None):
        seen.append((pixel_values_videos is None, video_mask is None, input_features is None, labels is None))
        # The tiny model needs both inputs: stand in zeros for the missing video.
        size = input_features.shape[0]
        return original(self, torch.zeros(size, 4, 3, 8, 8), input_features, None, audio_mask, labels)

    monkeypatch.setattr(TinyAVForClassification, "forward", spy)
    raw = tiny_config_dict(tiny_corpus, tmp_path / "run", num_epochs=1, checkpoint_every_steps=0)
    raw["data"]["drop_modality"] = "video"
    result = train(config_from_dict(raw), log=lambda line: None)
    # 4 training steps, then validation (4 clips) and test (4 clips) with batch 4: one call each.
    assert len(seen) == 6
    assert all(
        no_video and no_mask and not no_audio and not no_labels for no_video, no_mask, no_audio, no_labels in seen
    )
    assert sum(map(sum, result.test_metrics["confusion_matrix"])) == 4
