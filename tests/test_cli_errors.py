"""User errors on the command line: one line naming the fix, exit code 2; the traceback only with `--debug`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from av_emotion.cli import main
from av_emotion.training.data import ensure_synthetic_corpus
from tests.hub.conftest import save_processor, save_run

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC_RECIPE = REPO / "recipes" / "configs" / "avt_ca_synthetic.yaml"


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"av-emotion {command}: error: "), err
    return err


def test_missing_config_is_one_line_naming_the_shipped_ones(capsys, tmp_path):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = _one_line_error(capsys, "train")
    assert "nope.yaml" in err and "recipes/configs/" in err


@pytest.mark.parametrize(
    "override, expected",
    [("no_equals_sign", "must look like section.key=value"), ("training.no_such_key=1", "unknown key")],
)
def test_bad_override_is_one_line(capsys, override, expected):
    assert main(["train", "--config", str(SYNTHETIC_RECIPE), override]) == 2
    assert expected in _one_line_error(capsys, "train")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        main(["--debug", "train", "--config", str(tmp_path / "nope.yaml")])
    with pytest.raises(FileNotFoundError):
        main(["train", "--config", str(tmp_path / "nope.yaml"), "--debug"])


def test_corpus_written_with_other_settings_names_data_generate_null(tmp_path):
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"config": {"num_actors": 6}}) + "\n")
    with pytest.raises(ValueError, match=r"data\.generate=null"):
        ensure_synthetic_corpus(tmp_path, {"num_actors": 16}, log=lambda _: None)


def test_failed_push_is_one_line_and_rewrites_nothing_local(tmp_path):
    """Offline (`HF_HUB_OFFLINE=1`): the real Hub client refuses; README.md and the folder stay as they were."""
    run = tmp_path / "run"
    save_run(run, "avt_ca", training_leftovers=True)
    save_processor(run)
    from av_emotion.hub.model_card import CARD_MARKER

    (run / "README.md").write_text(f"old card\n{CARD_MARKER} -->\n")  # a card av_emotion would render again
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    result = subprocess.run(
        [sys.executable, "-m", "av_emotion.cli", "push", str(run), "--repo-id", "alice/tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("av-emotion push: error: "), result.stderr
    assert "offline" in lines[0].lower()
    after = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    assert after == before


def test_push_writes_the_rendered_card_only_after_the_upload(tmp_path, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoUrl

    from av_emotion.hub import push_to_hub
    from av_emotion.hub.model_card import CARD_MARKER

    run = tmp_path / "run"
    save_run(run, "avt_ca")
    save_processor(run)
    (run / "README.md").write_text(f"old card\n{CARD_MARKER} -->\n")
    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: RepoUrl(f"https://huggingface.co/{repo_id}"))

    def refuse(api, repo_id, operations, **kwargs):
        raise ConnectionError("the Hub is unreachable")

    monkeypatch.setattr(HfApi, "create_commit", refuse)
    with pytest.raises(ConnectionError):
        push_to_hub(run, "alice/tiny")
    assert (run / "README.md").read_text() == f"old card\n{CARD_MARKER} -->\n"

    uploaded = {}

    def accept(api, repo_id, operations, **kwargs):
        for operation in operations:
            with operation.as_file() as handle:
                uploaded[operation.path_in_repo] = handle.read()
        return type("Commit", (), {"commit_url": "https://huggingface.co/alice/tiny/commit/0"})()

    monkeypatch.setattr(HfApi, "create_commit", accept)
    push_to_hub(run, "alice/tiny")
    assert b"alice/tiny" in uploaded["README.md"]
    assert (run / "README.md").read_bytes() == uploaded["README.md"]


def test_pipeline_without_a_model_names_the_fix():
    from transformers import pipeline

    with pytest.raises(ValueError, match=r'needs a model: pass model="path/or/user/repo"'):
        pipeline("audio-video-emotion")
