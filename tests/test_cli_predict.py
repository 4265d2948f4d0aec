"""`av-emotion predict`: in-process through `av_emotion.cli.main`, and once as a real subprocess."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from av_emotion.cli import main
from tests.pipelines.generated_media import write_talking_clip, write_video
from tests.pipelines.tiny_checkpoint import LABELS, save_tiny_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cli_model"))


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory) -> Path:
    """A generated 3.2-s talking-face clip with a voice: the CLI's behaviour needs no real media."""
    return write_talking_clip(tmp_path_factory.mktemp("cli_clip") / "happy.mp4")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli_long") / "sixty_seconds.mkv", 60.0)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_distribution(labels):
    assert sorted(item["label"] for item in labels) == sorted(LABELS)
    scores = [item["score"] for item in labels]
    assert scores == sorted(scores, reverse=True)
    assert math.isclose(sum(scores), 1.0, abs_tol=1e-5)


def test_help_of_the_program_and_of_predict(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "predict" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--top-k", "--json", "--window", "--stride", "--plot", "--allow-missing-audio"):
        assert option in text
    assert "--device" in text and "--batch-size" in text and "examples:" in text


def test_predict_json_matches_the_pipeline(capsys, checkpoint, av_clip):
    code, out, err = run_cli(capsys, "predict", av_clip, "--model", checkpoint, "--json", "--device", "cpu")
    assert code == 0, err
    records = json.loads(out)
    assert [record["path"] for record in records] == [str(av_clip)]
    check_distribution(records[0]["labels"])
    from transformers import pipeline

    expected = pipeline("audio-video-emotion", model=str(checkpoint), device="cpu")(str(av_clip))
    assert [item["label"] for item in records[0]["labels"]] == [item["label"] for item in expected]
    assert [item["score"] for item in records[0]["labels"]] == pytest.approx([item["score"] for item in expected])


def test_predict_table_and_top_k(capsys, checkpoint, av_clip):
    code, out, _ = run_cli(capsys, "predict", av_clip, "--model", checkpoint, "--top-k", "2")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == str(av_clip) and len(lines) == 4
    assert lines[1].startswith("  seen: face in ") and lines[1].endswith("of sampled frames; modalities: video, audio")
    assert all(line.split()[0] in LABELS for line in lines[2:])


@pytest.mark.slow  # a fresh interpreter importing torch + transformers takes 10-25 s on a shared CPU
def test_predict_as_a_subprocess(checkpoint, av_clip, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "av_emotion.cli", "predict", str(av_clip), "--model", str(checkpoint)]
    completed = subprocess.run(
        [*command, "--json", "--device", "cpu", "--top-k", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    records = json.loads(completed.stdout)  # stdout holds the JSON and nothing else
    assert len(records) == 1 and len(records[0]["labels"]) == 3
    assert "Traceback" not in completed.stderr


def test_bad_files_get_one_line_errors_and_a_non_zero_exit(capsys, checkpoint, av_clip, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    missing = tmp_path / "missing.mp4"
    code, out, err = run_cli(
        capsys, "predict", av_clip, text, missing, "--model", checkpoint, "--json", "--device", "cpu"
    )
    assert code == 1
    assert [record["path"] for record in json.loads(out)] == [str(av_clip)]  # the good file still ran
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 2
    assert "notes.mp4" in error_lines[0] and "missing.mp4" in error_lines[1]
    assert "Traceback" not in err


def test_bad_model_and_bad_arguments(capsys, av_clip, tmp_path, checkpoint):
    code, _, err = run_cli(capsys, "predict", av_clip, "--model", tmp_path / "no_model_here")
    assert code == 2 and "cannot load the model" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "predict", av_clip, "--model", checkpoint, "--plot", tmp_path / "a.png")
    assert code == 2 and "--plot" in err and "--window" in err
    code, _, err = run_cli(capsys, "predict", av_clip, "--model", checkpoint, "--stride", "2")
    assert code == 2 and "--stride needs --window" in err


def test_missing_audio_track_cli(capsys, checkpoint, tmp_path):
    silent = write_video(tmp_path / "silent.mp4", 2.0, fps=10, with_audio=False)
    code, _, err = run_cli(capsys, "predict", silent, "--model", checkpoint, "--device", "cpu")
    assert code == 1 and "silent.mp4" in err and "--allow-missing-audio" in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1 and "Traceback" not in err
    code, out, err = run_cli(
        capsys, "predict", silent, "--model", checkpoint, "--device", "cpu", "--json", "--allow-missing-audio"
    )
    assert code == 0, err
    check_distribution(json.loads(out)[0]["labels"])


def test_window_timeline_json_and_plot(capsys, checkpoint, long_video, tmp_path):
    plot = tmp_path / "timeline.png"
    code, out, err = run_cli(
        capsys,
        "predict",
        long_video,
        "--model",
        checkpoint,
        "--device",
        "cpu",
        "--json",
        "--window",
        "6",
        "--stride",
        "6",
        "--top-k",
        "3",
        "--batch-size",
        "4",
        "--plot",
        plot,
    )
    assert code == 0, err
    (record,) = json.loads(out)
    assert [entry["start"] for entry in record["timeline"]] == pytest.approx([6.0 * k for k in range(10)], abs=1e-3)
    assert [entry["end"] for entry in record["timeline"]] == pytest.approx([6.0 * k + 6 for k in range(10)], abs=1e-3)
    assert all(len(entry["labels"]) == 3 for entry in record["timeline"]) and len(record["aggregate"]) == 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000
    # The table form prints one line per window plus the aggregate.
    code, out, _ = run_cli(capsys, "predict", long_video, "--model", checkpoint, "--device", "cpu", "--window", "20")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == str(long_video) and len(lines) == 1 + 1 + 3 + 1 and lines[-1].lstrip().startswith("aggregate")
    assert lines[1] == "  seen: face in 0% of sampled frames; modalities: video, audio"
    assert all(line.endswith("(face in 0% of sampled frames; modalities: video, audio)") for line in lines[2:5])


def test_plot_for_several_files_writes_one_png_each(capsys, checkpoint, long_video, av_clip, tmp_path):
    code, _, err = run_cli(
        capsys,
        "predict",
        long_video,
        av_clip,
        "--model",
        checkpoint,
        "--device",
        "cpu",
        "--window",
        "30",
        "--plot",
        tmp_path / "plot.png",
    )
    assert code == 0, err
    assert (tmp_path / "plot_sixty_seconds.png").exists()
    assert (tmp_path / f"plot_{av_clip.stem}.png").exists()
