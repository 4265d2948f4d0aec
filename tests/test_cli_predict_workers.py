"""`av-emotion predict --num-workers`: the same output for any number of workers, bad files still reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from av_emotion.cli import main
from av_emotion.commands.predict import MAX_DEFAULT_WORKERS, default_num_workers
from tests.pipelines.generated_media import write_talking_clip
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cli_workers"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> list[str]:
    """Four clips of two lengths and, third, a text file named .mp4."""
    root = tmp_path_factory.mktemp("cli_workers_clips")
    paths = [
        str(write_talking_clip(root / f"{index}.mp4", duration, actor=index + 1, emotion=emotion))
        for index, (duration, emotion) in enumerate([(2.0, "happy"), (3.0, "sad"), (2.0, "angry"), (3.0, "calm")])
    ]
    bad = root / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    paths.insert(2, str(bad))
    return paths


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("batch_size", ["1", "2"])
def test_workers_print_what_one_process_prints(capsys, checkpoint, folder, batch_size):
    runs = {}
    for workers in ("0", "2"):
        code, out, err = run_cli(
            capsys, "predict", *folder, "--model", checkpoint, "--json", "--num-workers", workers, "--batch-size",
            batch_size,
        )  # fmt: skip
        errors = [line for line in err.splitlines() if "error:" in line]
        runs[workers] = (code, json.loads(out), errors)
    assert runs["2"] == runs["0"]  # exit status, every record (scores bit for bit) and the error lines
    code, records, errors = runs["2"]
    assert code == 1
    assert [record["path"] for record in records] == [path for path in folder if not path.endswith("notes.mp4")]
    assert len(errors) == 1 and errors[0].startswith("av-emotion predict: error: ") and "notes.mp4" in errors[0]


def test_default_number_of_workers():
    assert default_num_workers(1, windowed=False, cores=8) == 0  # one whole file: nothing to overlap
    assert default_num_workers(1, windowed=True, cores=2) == 2  # its windows are shared
    assert default_num_workers(64, windowed=False, cores=2) == 2
    assert default_num_workers(64, windowed=False, cores=32) == MAX_DEFAULT_WORKERS
    assert default_num_workers(64, windowed=False, cores=1) == 0


def test_bad_number_of_workers(capsys, checkpoint, folder):
    code, _, err = run_cli(capsys, "predict", folder[0], "--model", checkpoint, "--num-workers", "-1")
    assert code == 2 and "--num-workers must be 0" in err
