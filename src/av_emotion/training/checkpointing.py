"""Atomic training checkpoints (`Accelerator.save_state` + the loop's own state) and resume.

A checkpoint is written into a hidden temporary folder beside its final place and renamed into
`checkpoints/checkpoint-<step>` only once complete (`os.replace` is atomic on one filesystem), so a run
killed at any moment leaves either the previous checkpoints or the new one, never a half-written folder
that `--resume` would trip over. Leftover temporary folders of a killed save are removed by the next save.
Only the last `keep_last` checkpoints are kept.

The loop's own state (epoch, optimizer step, micro-batches consumed in the current epoch, best metric,
early-stopping counter, history) is JSON (`trainer_state.json`), not a pickle; model weights are
safetensors; Accelerate writes the optimizer, scheduler and RNG states with `torch.save` and reads them
back with `weights_only=True`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINT_PREFIX = "checkpoint-"
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".old-"
STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    """Where a run stands; saved in every checkpoint.

    Attributes:
        epoch: The epoch in progress (0-based); after an epoch's end-of-epoch checkpoint it is the next one.
        global_step: Optimizer steps taken.
        batches_in_epoch: Micro-batches of `epoch` already consumed (skipped on resume).
        best_metric: Best validation value of `metric_for_best` so far.
        best_epoch / best_step: When it was reached.
        evaluations_without_improvement: Early-stopping counter.
        history: One dict per evaluation (`epoch`, `step`, metrics).
        stopped_early: Early stopping ended the run.
    """

    epoch: int = 0
    global_step: int = 0
    batches_in_epoch: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    best_step: int | None = None
    evaluations_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    def save(self, folder: Path) -> None:
        """Write `trainer_state.json` into `folder` (flushed to disk)."""
        path = Path(folder) / STATE_FILE
        with open(path, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, folder: Path) -> TrainerState:
        """Read `trainer_state.json` from a checkpoint folder."""
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not a complete checkpoint: {STATE_FILE} is missing")
        return cls(**json.loads(path.read_text()))


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint taken after optimizer step `step` (zero-padded so names sort by step)."""
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under `root`, oldest first (temporary and incomplete folders are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if path.is_dir() and path.name.startswith(CHECKPOINT_PREFIX) and (path / STATE_FILE).is_file()
    ]
    return sorted(found, key=lambda path: int(path.name[len(CHECKPOINT_PREFIX) :]))


def latest_checkpoint(root: str | Path) -> Path | None:
    """Return the newest complete checkpoint under `root`, or None."""
    checkpoints = list_checkpoints(root)
    return checkpoints[-1] if checkpoints else None


def remove_leftovers(root: Path) -> None:
    """Delete temporary folders left by a save that was killed."""
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith((TEMP_PREFIX, TRASH_PREFIX)):
                shutil.rmtree(path, ignore_errors=True)


def atomic_publish(temporary: Path, final: Path) -> None:
    """Rename a complete folder into place; an existing `final` is moved aside first, then deleted."""
    if final.exists():
        trash = final.with_name(f"{TRASH_PREFIX}{final.name}")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(temporary, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(temporary, final)
    _fsync_dir(final.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def link_or_copy_tree(source: Path, destination: Path) -> None:
    """Copy a folder, hard-linking its files where the filesystem allows (no extra disk for weights)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, copy_function=link)


def save_checkpoint(
    accelerator: Any,
    root: str | Path,
    state: TrainerState,
    *,
    keep_last: int,
    include: dict[str, Path] | None = None,
) -> Path:
    """Save the full training state after `state.global_step`, atomically, and prune old checkpoints.

    Every process must call it (Accelerate saves each process' RNG state); the main process publishes the
    folder. `include` maps sub-folder names to folders stored with the checkpoint (hard-linked), such as
    the best model so far, so that a resumed run restores them exactly as they were. Returns the final
    checkpoint path.
    """
    root = Path(root)
    final = root / checkpoint_name(state.global_step)
    temporary = root / f"{TEMP_PREFIX}{final.name}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        remove_leftovers(root)
        temporary.mkdir()
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name, folder in (include or {}).items():
            if folder.is_dir():
                link_or_copy_tree(folder, temporary / name)
        state.save(temporary)
        atomic_publish(temporary, final)
        for old in list_checkpoints(root)[: -max(keep_last, 1)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
