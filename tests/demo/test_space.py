"""`av-emotion push --with-demo`: the Space's files, one commit to a Gradio Space, and the model card's link to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from av_emotion.cli import main
from av_emotion.demo.space import default_space_id, space_files
from av_emotion.hub import render_model_card
from tests.hub.test_publishing import HubRecorder, _finished_run


@pytest.fixture
def hub(monkeypatch) -> HubRecorder:
    return HubRecorder().install(monkeypatch)


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_space_files_serve_the_demo_of_the_model(monkeypatch):
    files = space_files("alice/tiny-model")
    assert set(files) == {"app.py", "requirements.txt", "README.md"}
    meta = front_matter(files["README.md"].decode())
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["models"] == ["alice/tiny-model"]
    assert str(meta["sdk_version"])[0].isdigit()
    requirements = files["requirements.txt"].decode().splitlines()
    assert [line for line in requirements if not line.startswith("#")] == [
        f"av-emotion[demo]=={__import__('av_emotion').__version__}"
    ]
    custom = space_files("alice/tiny-model", requirement="av-emotion[demo] @ git+https://example.org/av_emotion")
    assert b"av-emotion[demo] @ git+https://example.org/av_emotion\n" in custom["requirements.txt"]

    # Running app.py as a Space does serves the demo of that repo on the Space's port, on every interface.
    import av_emotion.demo

    calls = []
    monkeypatch.setattr(av_emotion.demo, "launch_demo", lambda *args, **kwargs: calls.append((args, kwargs)), False)
    exec(compile(files["app.py"], "app.py", "exec"), {"__name__": "__main__"})
    assert calls == [(("alice/tiny-model",), {"host": "0.0.0.0", "port": 7860})]
    with pytest.raises(ValueError, match="must look like user/name"):
        space_files("tiny-model")


def test_push_with_demo_makes_the_space_and_links_it_from_the_card(tmp_path: Path, hub: HubRecorder, capsys):
    run = _finished_run(tmp_path)
    assert main(["push", str(run), "--repo-id", "alice/tiny", "--with-demo"]) == 0
    assert [commit["repo_id"] for commit in hub.commits] == ["alice/tiny", "alice/tiny-demo"]
    model_commit, space_commit = hub.commits
    space_repo = next(repo for repo in hub.repos if repo["repo_id"] == "alice/tiny-demo")
    assert space_repo["repo_type"] == "space" and space_repo["space_sdk"] == "gradio"
    assert space_commit["repo_type"] == "space"
    assert space_commit["files"] == space_files("alice/tiny")
    card = model_commit["files"]["README.md"].decode()
    assert "[the demo Space](https://huggingface.co/spaces/alice/tiny-demo)" in card
    assert "av-emotion demo --model alice/tiny" in card
    assert "pushed the demo Space" in capsys.readouterr().out


def test_push_dry_run_lists_the_space_and_space_id_needs_with_demo(tmp_path: Path, hub: HubRecorder, capsys):
    run = _finished_run(tmp_path)
    assert main(["push", str(run), "--repo-id", "alice/tiny", "--with-demo", "--space-id", "bob/s", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "and 3 files to the Space bob/s:" in out and "app.py" in out and not hub.commits
    assert main(["push", str(run), "--repo-id", "alice/tiny", "--space-id", "bob/s"]) == 2
    assert "need --with-demo" in capsys.readouterr().err
    assert default_space_id("alice/tiny") == "alice/tiny-demo"


def test_card_without_a_space_gives_the_demo_command(tmp_path: Path):
    run = _finished_run(tmp_path)
    card = render_model_card(run, repo_id="alice/tiny").read_text()
    assert "`av-emotion demo --model alice/tiny`" in card and "huggingface.co/spaces" not in card
