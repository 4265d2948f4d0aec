"""Publishing: one commit with exactly the model's files, never pickles or training state, never the token."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.hf_api import RepoUrl

from av_emotion.cli import main
from av_emotion.hub import MODEL_ID_PLACEHOLDER, plan_upload, push_to_hub, remote_code_for_config, render_model_card
from tests.hub.conftest import save_processor, save_run

FAKE_TOKEN = "hf_FAKEtokenDoNotLeak0123456789abcdefABCDEF"


class HubRecorder:
    """Stands in for the Hub: records the calls `HfApi` receives, and the token it would have sent."""

    def __init__(self):
        self.repos: list[dict] = []
        self.branches: list[dict] = []
        self.commits: list[dict] = []

    def install(self, monkeypatch):
        recorder = self

        def create_repo(api, repo_id, **kwargs):
            recorder.repos.append({"repo_id": repo_id, "token": api.token or huggingface_hub.get_token(), **kwargs})
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def create_branch(api, repo_id, **kwargs):
            recorder.branches.append({"repo_id": repo_id, **kwargs})

        def create_commit(api, repo_id, operations, **kwargs):
            files = {}
            for operation in operations:
                with operation.as_file() as handle:
                    files[operation.path_in_repo] = handle.read()
            recorder.commits.append({"repo_id": repo_id, "files": files, **kwargs})
            return type("Commit", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{'0' * 40}"})()

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_branch", create_branch)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)
        return self

    @property
    def files(self) -> dict[str, bytes]:
        (commit,) = self.commits
        return commit["files"]


@pytest.fixture
def hub(monkeypatch) -> HubRecorder:
    return HubRecorder().install(monkeypatch)


def _finished_run(directory: Path, model_type: str = "avt_ca") -> Path:
    save_run(directory, model_type, training_leftovers=True)
    save_processor(directory)
    return directory


def test_one_commit_with_exactly_the_model_files(tmp_path: Path, hub: HubRecorder, model_type: str):
    run = _finished_run(tmp_path, model_type)
    render_model_card(run)  # as training leaves it: a card whose snippets name a placeholder path
    local_config = json.loads((run / "config.json").read_text())
    push_to_hub(run, "alice/tiny-model")

    assert len(hub.commits) == 1 and len(hub.repos) == 1 and not hub.branches
    bundle = remote_code_for_config(local_config, include_processor=True)  # the run has a processor_config.json
    expected = {"config.json", "model.safetensors", "processor_config.json", "README.md", "confusion_matrix.png"}
    expected |= set(bundle.files)
    processor_files = {"processor.py", "video_processing.py", "feature_extraction.py", "media.py", "faces.py"}
    assert processor_files | {"presets.py"} <= set(bundle.files)
    if model_type == "avt_ca":
        assert set(bundle.files) - processor_files - {"presets.py"} == {
            "configuration_avt_ca.py",
            "modeling_avt_ca.py",
            "efficientface.py",
            "masked_batch_norm.py",
            "presence.py",
            "frame_chunks.py",
            "outputs.py",
            # the optional stems: mini-Xception and transformers encoders (issue 14)
            "mini_xception.py",
            "transformers_encoders.py",
        }
    if (run / "emotion_relation_matrix.png").exists():
        expected.add("emotion_relation_matrix.png")
    assert set(hub.files) == expected  # no results.json, recipe.yaml, checkpoints/, best_model/, logs/
    assert hub.files["model.safetensors"] == (run / "model.safetensors").read_bytes()
    uploaded_processor = json.loads(hub.files["processor_config.json"])
    assert uploaded_processor.pop("auto_map") == bundle.processor_auto_map
    assert uploaded_processor["video_processor"].pop("auto_map")["AutoVideoProcessor"].startswith("video_processing.")
    assert uploaded_processor["feature_extractor"].pop("auto_map")["AutoFeatureExtractor"].startswith("feature_")
    assert uploaded_processor == json.loads((run / "processor_config.json").read_text())  # only auto_map added

    uploaded_config = json.loads(hub.files["config.json"])
    assert uploaded_config.pop("auto_map") == bundle.auto_map
    assert uploaded_config == local_config  # only auto_map added, and the local file is left as saved
    assert "auto_map" not in json.loads((run / "config.json").read_text())

    card = hub.files["README.md"].decode()
    assert card == (run / "README.md").read_text()  # rendered again locally with the repo id
    assert '.from_pretrained("alice/tiny-model")' in card and MODEL_ID_PLACEHOLDER not in card
    assert ModelCard(card).data.eval_results
    assert hub.repos[0]["private"] is False and hub.repos[0]["exist_ok"] is True
    assert hub.commits[0]["revision"] is None


def test_private_repo_on_a_branch_with_a_message(tmp_path: Path, hub: HubRecorder):
    run = _finished_run(tmp_path)
    code = main(
        ["push", str(run), "--repo-id", "alice/tiny", "--private", "--revision", "fold0", "--commit-message", "fold 0"]
    )
    assert code == 0
    assert hub.repos[0]["private"] is True
    assert hub.branches == [{"repo_id": "alice/tiny", "branch": "fold0", "exist_ok": True, "repo_type": "model"}]
    assert hub.commits[0]["revision"] == "fold0"
    assert hub.commits[0]["commit_message"] == "fold 0"


def test_keep_card_and_no_remote_code(tmp_path: Path, hub: HubRecorder):
    run = _finished_run(tmp_path)
    (run / "README.md").write_text("---\nlicense: mit\n---\n# My own card\n")
    assert main(["push", str(run), "--repo-id", "alice/tiny", "--keep-card", "--no-remote-code"]) == 0
    assert hub.files["README.md"] == b"---\nlicense: mit\n---\n# My own card\n"
    assert not any(name.endswith(".py") for name in hub.files)
    assert hub.files["config.json"] == (run / "config.json").read_bytes()


def test_hand_written_card_is_not_replaced(tmp_path: Path, hub: HubRecorder):
    run = _finished_run(tmp_path)
    (run / "README.md").write_text("# Notes written by hand\n")
    push_to_hub(run, "alice/tiny")
    assert hub.files["README.md"] == b"# Notes written by hand\n"


def test_token_never_reaches_a_file_or_a_log(tmp_path: Path, hub: HubRecorder, monkeypatch, capfd):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("", "av_emotion", "huggingface_hub", "transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        run = _finished_run(tmp_path)
        assert main(["push", str(run), "--repo-id", "alice/tiny"]) == 0
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)

    assert hub.repos[0]["token"] == FAKE_TOKEN  # the token was there to leak: the Hub client resolved it
    assert any("pushing" in line for line in records)  # the logs were captured
    output = capfd.readouterr()
    assert "pushed" in output.out
    assert FAKE_TOKEN not in output.out + output.err
    assert not [line for line in records if FAKE_TOKEN in line]
    assert hub.files
    for name, content in hub.files.items():
        assert FAKE_TOKEN.encode() not in content, name
    for path in run.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path


def test_explicit_token_is_used_not_written(tmp_path: Path, hub: HubRecorder):
    run = _finished_run(tmp_path)
    push_to_hub(run, "alice/tiny", token=FAKE_TOKEN)
    assert hub.repos[0]["token"] == FAKE_TOKEN
    assert all(FAKE_TOKEN.encode() not in content for content in hub.files.values())


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "last.ckpt"])
def test_pickle_weights_are_refused(tmp_path: Path, hub: HubRecorder, name: str):
    run = _finished_run(tmp_path)
    (run / name).write_bytes(b"\x80\x04pickle")
    with pytest.raises(ValueError, match=name):
        push_to_hub(run, "alice/tiny")
    assert not hub.commits and not hub.repos


def test_folder_without_safetensors_is_refused(tmp_path: Path, hub: HubRecorder):
    run = _finished_run(tmp_path)
    (run / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        push_to_hub(run, "alice/tiny")
    with pytest.raises(ValueError, match="user/name"):
        push_to_hub(_finished_run(tmp_path / "other"), "no-namespace")
    assert not hub.commits


def test_dry_run_lists_the_plan_and_contacts_nobody(tmp_path: Path, hub: HubRecorder, capsys):
    run = _finished_run(tmp_path)
    assert main(["push", str(run), "--repo-id", "alice/tiny", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    for name in plan_upload(run).paths():
        assert name in printed
    assert "optimizer.bin" not in printed and "results.json" not in printed
    assert not hub.repos and not hub.commits
