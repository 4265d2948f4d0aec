import json

import pytest

from av_emotion.training.checkpointing import (
    TrainerState,
    atomic_publish,
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    save_checkpoint,
)


class FakeAccelerator:
    """Stands in for `Accelerator` (single process) and records save_state calls."""

    is_main_process = True

    def __init__(self, fail_on_step=None):
        self.fail_on_step = fail_on_step

    def wait_for_everyone(self):
        pass

    def save_state(self, folder):
        (folder_path := __import__("pathlib").Path(folder)).mkdir(exist_ok=True)
        (folder_path / "model.safetensors").write_bytes(b"weights")
        if self.fail_on_step is not None:
            raise KeyboardInterrupt("killed while saving")


def test_names_sort_by_step():
    assert checkpoint_name(12) == "checkpoint-00000012"
    assert sorted([checkpoint_name(100), checkpoint_name(9)]) == [checkpoint_name(9), checkpoint_name(100)]


def test_save_publishes_prunes_and_round_trips_state(tmp_path):
    accelerator = FakeAccelerator()
    for step in (2, 4, 6):
        state = TrainerState(epoch=1, global_step=step, batches_in_epoch=step, history=[{"epoch": 1, "uar": 0.5}])
        save_checkpoint(accelerator, tmp_path, state, keep_last=2)
    assert [path.name for path in list_checkpoints(tmp_path)] == [checkpoint_name(4), checkpoint_name(6)]
    loaded = TrainerState.load(latest_checkpoint(tmp_path))
    assert loaded == TrainerState(epoch=1, global_step=6, batches_in_epoch=6, history=[{"epoch": 1, "uar": 0.5}])
    assert json.loads((tmp_path / checkpoint_name(6) / "trainer_state.json").read_text())["global_step"] == 6


def test_interrupted_save_leaves_previous_checkpoint_usable(tmp_path):
    save_checkpoint(FakeAccelerator(), tmp_path, TrainerState(global_step=2), keep_last=3)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(FakeAccelerator(fail_on_step=4), tmp_path, TrainerState(global_step=4), keep_last=3)
    # The half-written folder is hidden and never offered for resume; the next save clears it.
    assert latest_checkpoint(tmp_path).name == checkpoint_name(2)
    assert any(path.name.startswith(".tmp-") for path in tmp_path.iterdir())
    save_checkpoint(FakeAccelerator(), tmp_path, TrainerState(global_step=6), keep_last=3)
    assert not any(path.name.startswith(".tmp-") for path in tmp_path.iterdir())
    assert [path.name for path in list_checkpoints(tmp_path)] == [checkpoint_name(2), checkpoint_name(6)]


def test_folder_without_state_is_not_a_checkpoint(tmp_path):
    (tmp_path / checkpoint_name(8)).mkdir()
    assert latest_checkpoint(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="trainer_state.json"):
        TrainerState.load(tmp_path / checkpoint_name(8))


def test_atomic_publish_replaces_existing(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "a").write_text("old")
    atomic_publish(tmp_path / "new", tmp_path / "final")
    assert (tmp_path / "final" / "a").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["final"]
