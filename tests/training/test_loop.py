import json

import pytest
import torch
from safetensors.torch import load_file

from av_emotion.training.checkpointing import list_checkpoints
from av_emotion.training.config import config_from_dict
from av_emotion.training.loop import train
from tests.training.conftest import tiny_config_dict


def test_train_writes_model_results_and_checkpoints(tiny_corpus, tiny_stack, tmp_path):
    pytest.importorskip(
        "tensorboard", reason="TensorBoard logging needs the optional extra: pip install -e '.[tensorboard]'"
    )
    config = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "run", report_to="tensorboard"))
    result = train(config, log=lambda line: None)
    out = tmp_path / "run"
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "processor_config.json").is_file() and (out / "confusion_matrix.png").is_file()
    results = json.loads((out / "results.json").read_text())
    # 4 actors in 4 folds: fold 0 tests actor 1, validates on actor 2, trains on 3 and 4 (8 clips, 4 steps/epoch).
    assert results["speakers"] == {"train": [3, 4], "validation": [2], "test": [1]}
    assert results["split_sizes"] == {"train": 8, "validation": 4, "test": 4}
    assert results["global_step"] == 12 and len(results["history"]) == 3
    assert set(results["test"]) >= {"accuracy", "uar", "macro_f1", "confusion_matrix", "loss"}
    assert sum(map(sum, results["test"]["confusion_matrix"])) == 4
    assert results["test"] == result.test_metrics
    # Checkpoints at steps 3 (mid-epoch), 4 (epoch end), 6, 8, 9, 12 -> the last 2 kept.
    assert [path.name for path in list_checkpoints(out / "checkpoints")] == [
        "checkpoint-00000009",
        "checkpoint-00000012",
    ]
    assert not (out / "best_model").exists()
    assert list((out / "logs").rglob("events.out.tfevents.*"))  # TensorBoard through Accelerate's trackers
    # The saved weights are the best validation epoch's.
    best_epoch = results["best_epoch"]
    assert results["history"][best_epoch - 1]["uar"] == results["best_validation"]


def test_refuses_existing_run_without_resume(tiny_corpus, tiny_stack, tmp_path):
    config = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "run", num_epochs=1))
    train(config, log=lambda line: None)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, log=lambda line: None)


def test_resume_from_mid_epoch_checkpoint_matches_uninterrupted(tiny_corpus, tiny_stack, tmp_path):
    full = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "full"))
    train(full, log=lambda line: None)
    # Same run, resumed from its mid-epoch checkpoint at step 9 (epoch 3, after 1 of its 4 batches)...
    partial = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "resumed"))
    train(partial, log=lambda line: None)
    checkpoint = tmp_path / "resumed" / "checkpoints" / "checkpoint-00000009"
    train(partial, resume=str(checkpoint), log=lambda line: None)
    # The final training state (last checkpoint) and the kept model both match bit for bit.
    for relative in ("checkpoints/checkpoint-00000012/model.safetensors", "model.safetensors"):
        a = load_file(tmp_path / "full" / relative)
        b = load_file(tmp_path / "resumed" / relative)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (relative, key)


def test_resume_restores_rng(tiny_corpus, tiny_stack, tmp_path, monkeypatch):
    """The comparison above can fail: perturbing the restored RNG (dropout) changes the final weights."""
    from accelerate import Accelerator

    full = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "full"))
    train(full, log=lambda line: None)
    partial = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "resumed"))
    train(partial, log=lambda line: None)
    original = Accelerator.load_state

    def load_then_reseed(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        torch.manual_seed(123)
        return result

    monkeypatch.setattr(Accelerator, "load_state", load_then_reseed)
    train(partial, resume=str(tmp_path / "resumed" / "checkpoints" / "checkpoint-00000009"), log=lambda line: None)
    relative = "checkpoints/checkpoint-00000012/model.safetensors"
    a, b = load_file(tmp_path / "full" / relative), load_file(tmp_path / "resumed" / relative)
    assert not all(torch.equal(a[key], b[key]) for key in a)
