"""`recipes/train.py` with the tiny test model, as an entry point for `accelerate launch` in the multi-process tests.

    accelerate launch --cpu --num_processes 2 tests/training/tiny_launch.py --config run.yaml [--resume]

It registers the tiny model, makes the recipe build the tiny processor (as the `tiny_stack` fixture does in
process), then runs `recipes/train.py`'s `main` unchanged. With `AV_EMOTION_RECORD_WRITES=<folder>` set, every
process records what it writes under `training.output_dir` into `<folder>/writes-<rank>.jsonl`, one JSON line
per event:

* `{"writer": name}`: a call to one of the loop's writers (`save_pretrained` of the model or the processor,
  `write_results`, `write_model_card_hook`, `plot_confusion_matrix`, `save_config`, `TrainerState.save`,
  `atomic_publish`);
* `{"event": ..., "path": ...}`: a file written by `torch.save` or a safetensors `save_file` (C++ and Rust write
  those, out of sight of Python's audit events), or a Python-level write, rename, mkdir or removal seen by an
  audit hook (`sys.addaudithook`).
"""

from __future__ import annotations

import functools
import json
import os
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # `tests` importable whatever the launcher's working directory

from tests.training.tiny_components import TinyProcessor, register_tiny  # noqa: E402


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def record_writes(folder: Path, watched: Path) -> None:
    """Append this process' writes under `watched` to `folder/writes-<rank>.jsonl`."""
    import safetensors.torch
    import torch
    import transformers.modeling_utils
    from accelerate.utils import other as accelerate_other

    import av_emotion.training.checkpointing as checkpointing
    import av_emotion.training.loop as loop

    log = open(folder / f"writes-{_rank()}.jsonl", "a", buffering=1)  # opened before the hook is installed
    watched = str(watched.resolve())

    def note(entry: dict) -> None:
        log.write(json.dumps(entry) + "\n")

    def note_path(event: str, path) -> None:
        if isinstance(path, (str, os.PathLike)):
            resolved = os.path.abspath(os.fspath(path))
            if resolved.startswith(watched):
                note({"event": event, "path": resolved})

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (
                any(char in mode for char in "wax+")
                if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            )
            if writing:
                note_path("open", path)
        elif event in ("os.rename", "os.mkdir", "os.remove", "os.link", "shutil.rmtree", "shutil.copytree"):
            note_path(event, args[0] if event != "os.link" else args[1])

    def spy_writer(owner, name: str, label: str | None = None) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def spied(*args, **kwargs):
            note({"writer": label or name})
            return original(*args, **kwargs)

        setattr(owner, name, spied)

    def spy_file_writer(owner, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def spied(obj, path, *args, **kwargs):
            note_path(name, path)
            return original(obj, path, *args, **kwargs)

        setattr(owner, name, spied)

    for owner in (loop, checkpointing):
        spy_writer(owner, "atomic_publish")
    for name in ("write_results", "write_model_card_hook", "plot_confusion_matrix", "save_config"):
        spy_writer(loop, name)
    spy_writer(checkpointing.TrainerState, "save", "TrainerState.save")
    spy_writer(transformers.modeling_utils.PreTrainedModel, "save_pretrained", "model.save_pretrained")
    spy_writer(TinyProcessor, "save_pretrained", "processor.save_pretrained")
    spy_file_writer(torch, "save")
    spy_file_writer(safetensors.torch, "save_file")
    spy_file_writer(transformers.modeling_utils, "safe_save_file")
    spy_file_writer(accelerate_other, "safe_save_file")
    sys.addaudithook(audit)


def output_dir_of(argv: list[str]) -> Path:
    """The run's `training.output_dir`, read from its config the way the recipe reads it."""
    import argparse

    from av_emotion.commands.train import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(argv)).resolved_output_dir()


def main(argv: list[str]) -> int:
    register_tiny()
    import av_emotion.training.loop as loop

    loop.build_processor = lambda section: TinyProcessor()
    if os.environ.get("AV_EMOTION_RECORD_WRITES"):
        record_writes(Path(os.environ["AV_EMOTION_RECORD_WRITES"]), output_dir_of(argv))
    recipe = runpy.run_path(str(REPO / "recipes" / "train.py"), run_name="tiny_launch")
    return recipe["main"](argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
