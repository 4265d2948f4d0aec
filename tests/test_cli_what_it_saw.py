"""`av-emotion predict` says what the model saw: faces, modalities, silent tracks, abstention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from av_emotion.cli import main
from tests.pipelines.generated_media import write_video
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cli_seen"))


@pytest.fixture(scope="module")
def wall(tmp_path_factory) -> Path:
    """A flat grey wall: no face anywhere."""
    return write_video(tmp_path_factory.mktemp("wall") / "wall.mp4", 4.0, frames=np.full((1, 48, 64, 3), 128, np.uint8))


@pytest.fixture(scope="module")
def muted(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("muted") / "muted.mp4", 4.0, silent_audio=True)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["predict", *(str(arg) for arg in argv), "--device", "cpu"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_no_face_is_reported_and_warned(capsys, checkpoint, wall):
    code, out, err = run_cli(capsys, wall, "--model", checkpoint, "--json")
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["face_fraction"] == 0.0 and record["modalities"] == ["video", "audio"]
    assert record["abstained"] is False and len(record["labels"]) == 8
    warnings = [line for line in err.splitlines() if line.startswith("av-emotion predict: warning:")]
    assert len(warnings) == 1 and "wall.mp4: no face was found in any of the 4 sampled frames" in warnings[0]
    code, out, _ = run_cli(capsys, wall, "--model", checkpoint)
    assert out.splitlines()[1] == "  seen: face in 0% of sampled frames; modalities: video, audio"


def test_min_face_fraction_abstains(capsys, checkpoint, wall, tmp_path):
    code, out, err = run_cli(capsys, wall, "--model", checkpoint, "--json", "--min-face-fraction", "0.5")
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["abstained"] is True and record["labels"] == []
    code, out, _ = run_cli(capsys, wall, "--model", checkpoint, "--min-face-fraction", "0.5")
    assert out.splitlines()[1:] == [
        "  seen: face in 0% of sampled frames; modalities: video, audio; abstained",
        "  abstained",
    ]
    plot = tmp_path / "t.png"
    code, out, err = run_cli(
        capsys, wall, "--model", checkpoint, "--window", "2", "--min-face-fraction", "0.5", "--json", "--plot", plot
    )
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["abstained"] is True and record["aggregate"] == []
    assert all(entry["abstained"] and entry["labels"] == [] for entry in record["timeline"])
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(capsys, wall, "--model", checkpoint, "--min-face-fraction", "2")
    assert code == 2 and "--min-face-fraction must be a share of frames in [0, 1]" in err


def test_silent_track(capsys, checkpoint, muted):
    code, out, err = run_cli(capsys, muted, "--model", checkpoint, "--json")
    assert code == 0, err
    assert json.loads(out)[0]["modalities"] == ["video"]
    (line,) = [line for line in err.splitlines() if "digital silence" in line]
    assert line.startswith("av-emotion predict: warning:") and "muted.mp4" in line and "--modalities video" in line
    code, out, err = run_cli(capsys, muted, "--model", checkpoint, "--json", "--modalities", "video")
    assert code == 0, err
    assert json.loads(out)[0]["modalities"] == ["video"] and "digital silence" not in err


def test_detail_keys_match_the_pipeline():
    from av_emotion.commands.predict import DETAIL_KEYS as cli_keys
    from av_emotion.pipelines.audio_video_emotion import DETAIL_KEYS as pipeline_keys

    assert cli_keys == pipeline_keys
