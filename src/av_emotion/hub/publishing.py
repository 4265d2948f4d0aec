"""Publishing a saved model to the Hugging Face Hub in one commit: `push_to_hub(output_dir, repo_id)`.

What goes up, and only that (files at the top of `output_dir`; sub-folders such as `checkpoints/`,
`best_model/` and `logs/` never do):

- the weights, as safetensors (`model.safetensors`, or the shards and their index);
- `config.json`, with an `auto_map` added when the standalone model code goes up too (`remote_code=True`,
  the default; see `av_emotion.hub.remote_code`), and that code;
- the processor's `processor_config.json` (and any `preprocessor_config.json` / `video_preprocessor_config.json`);
- the model card `README.md`, rendered again with the repo id so its snippets load the repo (a hand-written
  `README.md` is uploaded as it is);
- the pictures (`*.png`: confusion matrix, relation matrix).

A folder holding pickle weights (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`, `*.pkl`, `*.pickle`) at its top is refused:
pickles execute code when loaded. Training state (`results.json`, `recipe.yaml` with its local paths,
checkpoints, optimizer states) stays local.

Authentication is huggingface_hub's own: the `token` argument, else `HF_TOKEN`, else the token stored by
`hf auth login`. This module never reads, prints, logs or writes a token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from av_emotion.hub.model_card import CARD_FILE, CARD_MARKER, render_model_card
from av_emotion.hub.remote_code import processor_config_with_auto_map, remote_code_for_config

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PROCESSOR_CONFIG = "processor_config.json"
CONFIG_FILES = ("config.json", "processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json")
WEIGHTS_INDEX = "model.safetensors.index.json"
PICTURE_SUFFIXES = (".png",)


@dataclass
class UploadPlan:
    """The files one push uploads: path in the repo -> local file (a `Path`) or generated content (`bytes`)."""

    files: dict[str, Path | bytes] = field(default_factory=dict)

    def paths(self) -> list[str]:
        """Return the paths in the repo, sorted."""
        return sorted(self.files)

    def size(self, path_in_repo: str) -> int:
        """Return the size of one file in bytes."""
        source = self.files[path_in_repo]
        return len(source) if isinstance(source, bytes) else source.stat().st_size

    def operations(self) -> list[Any]:
        """Return the `CommitOperationAdd`s for `HfApi.create_commit`."""
        from huggingface_hub import CommitOperationAdd

        return [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=source if isinstance(source, bytes) else str(source))
            for path, source in sorted(self.files.items())
        ]


def check_publishable(output_dir: str | Path) -> Path:
    """Check that `output_dir` holds a model that may be published; returns it as a `Path`.

    Raises `FileNotFoundError` without `config.json` or safetensors weights, and `ValueError` when pickle
    weights sit at the top of the folder.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise FileNotFoundError(f"{output_dir} is not a folder; pass the folder written by save_pretrained")
    pickles = sorted(path.name for path in output_dir.iterdir() if path.is_file() and path.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(
            f"{output_dir} holds pickle files {pickles}: they run code when loaded, so av_emotion does not publish "
            "them. Save the model with save_pretrained (safetensors), and move those files out of the folder"
        )
    if not (output_dir / "config.json").is_file():
        raise FileNotFoundError(f"{output_dir / 'config.json'} not found: save the model with save_pretrained first")
    if not any(output_dir.glob("*.safetensors")):
        raise FileNotFoundError(f"{output_dir} has no *.safetensors weights: save the model with save_pretrained")
    index = output_dir / WEIGHTS_INDEX
    if index.is_file():
        shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        missing = sorted(shard for shard in shards if not (output_dir / shard).is_file())
        if missing:
            raise FileNotFoundError(f"{index} names weight shards that are not in {output_dir}: {missing}")
    return output_dir


def plan_upload(output_dir: str | Path, *, remote_code: bool = True) -> UploadPlan:
    """List what a push of `output_dir` uploads (see the module docstring); reads files, writes nothing."""
    output_dir = check_publishable(output_dir)
    plan = UploadPlan()
    for path in sorted(output_dir.iterdir()):
        if not path.is_file():
            continue
        name = path.name
        if name.endswith(".safetensors") or name == WEIGHTS_INDEX or name in CONFIG_FILES or name == CARD_FILE:
            plan.files[name] = path
        elif path.suffix in PICTURE_SUFFIXES:
            plan.files[name] = path
    if remote_code:
        config = json.loads((output_dir / "config.json").read_text(encoding="utf-8"))
        processor_path = output_dir / PROCESSOR_CONFIG
        bundle = remote_code_for_config(config, include_processor=processor_path.is_file())
        clashes = sorted(name for name in bundle.files if name in plan.files)
        if clashes:
            raise ValueError(f"{output_dir}: files {clashes} would be replaced by the generated model code")
        config["auto_map"] = {**(config.get("auto_map") or {}), **bundle.auto_map}
        plan.files["config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")
        if processor_path.is_file():
            processor_config = json.loads(processor_path.read_text(encoding="utf-8"))
            processor_config = processor_config_with_auto_map(processor_config, bundle)
            plan.files[PROCESSOR_CONFIG] = (json.dumps(processor_config, indent=2, sort_keys=True) + "\n").encode()
        for name, text in bundle.files.items():
            plan.files[name] = text.encode("utf-8")
    return plan


def push_to_hub(
    output_dir: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    *,
    commit_message: str | None = None,
    update_card: bool = True,
    remote_code: bool = True,
    demo_space: str | None = None,
    api: Any = None,
):
    """Upload the model saved in `output_dir` to the Hub repo `repo_id` in one commit; returns the `CommitInfo`.

    Args:
        output_dir: A folder written by `save_pretrained` (a training run's output folder works as it is).
        repo_id: `user/name` or `org/name`; the repo is created when missing.
        private: Create the repo private (an existing repo keeps its visibility).
        revision: Branch to commit to (created from `main` when missing); default `main`.
        token: A Hub token; default: huggingface_hub's usual sources (`HF_TOKEN`, then the stored login).
        commit_message: Default: "Upload <model_type> model with av_emotion <version>".
        update_card: Render `README.md` again with `repo_id` (from the run's files) when av_emotion rendered it;
            a hand-written card (without the marker line `render_model_card` ends cards with) is never replaced.
            False uploads the existing card as it is. A card is rendered when there is none.
        remote_code: Also upload the standalone model code and its `auto_map`, so the repo loads with
            `trust_remote_code=True` where av_emotion is not installed.
        demo_space: The Space serving the model's web demo (`av_emotion.demo.space.push_demo_space`); the
            rendered card links it.
        api: An `HfApi` to use (tests pass a fake one); default `HfApi(token=token)`.
    """
    from huggingface_hub import HfApi

    import av_emotion

    output_dir = check_publishable(output_dir)
    if "/" not in repo_id:
        raise ValueError(f"repo_id {repo_id!r} must look like user/name (or org/name)")
    card_path = output_dir / CARD_FILE
    render = not card_path.is_file() or update_card
    if render and card_path.is_file() and CARD_MARKER not in card_path.read_text(encoding="utf-8"):
        logger.info("%s was not rendered by av_emotion: uploading it as it is", card_path)
        render = False
    if render:
        plan, rendered = _plan_with_rendered_card(output_dir, repo_id, remote_code, demo_space)
    else:
        plan, rendered = plan_upload(output_dir, remote_code=remote_code), {}
    config = json.loads((output_dir / "config.json").read_text(encoding="utf-8"))
    message = commit_message or f"Upload {config.get('model_type')} model with av_emotion {av_emotion.__version__}"
    api = api if api is not None else HfApi(token=token)
    logger.info(
        "pushing %d files (%s) from %s to %s%s",
        len(plan.files),
        ", ".join(plan.paths()),
        output_dir,
        repo_id,
        f"@{revision}" if revision else "",
    )
    repo_url = api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(repo_url, "repo_id", None) or repo_id
    if revision and revision != "main":
        api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True, repo_type="model")
    commit = api.create_commit(
        repo_id=repo_id,
        operations=plan.operations(),
        commit_message=message,
        revision=revision,
        repo_type="model",
    )
    # Only now, with the upload done, does the local folder get the card that was uploaded.
    for name, content in rendered.items():
        (output_dir / name).write_bytes(content)
    logger.info("pushed to %s", getattr(commit, "commit_url", repo_id))
    return commit


def _plan_with_rendered_card(
    output_dir: Path, repo_id: str, remote_code: bool, demo_space: str | None = None
) -> tuple[UploadPlan, dict[str, bytes]]:
    """Plan an upload whose card is rendered for `repo_id`, leaving `output_dir` exactly as it was.

    `render_model_card` writes into the folder (the card and, for some models, a picture); those files are read
    into the plan as bytes and the folder is restored, so a push that fails (offline, no login, no permission)
    changes nothing local. Returns the plan and the rendered files to write back once the upload succeeded.
    """

    def card_files() -> list[Path]:  # what rendering may write: the card and pictures (never the weights)
        return [
            p for p in output_dir.iterdir() if p.is_file() and (p.name == CARD_FILE or p.suffix in PICTURE_SUFFIXES)
        ]

    before = {path.name: path.read_bytes() for path in card_files()}
    try:
        render_model_card(output_dir, repo_id=repo_id, remote_code=remote_code, demo_space=demo_space)
        plan = plan_upload(output_dir, remote_code=remote_code)
        rendered: dict[str, bytes] = {}
        for path in card_files():
            if before.get(path.name) != (content := path.read_bytes()):
                rendered[path.name] = content
                if path.name in plan.files:
                    plan.files[path.name] = content
    finally:
        for path in card_files():
            if path.name not in before:
                path.unlink()
            elif path.read_bytes() != before[path.name]:
                path.write_bytes(before[path.name])
    return plan, rendered


# The name the training command calls (`av_emotion.commands.train`).
push_model = push_to_hub


def describe_plan(plan: UploadPlan) -> Sequence[str]:
    """One line per file of a plan: size and path (for `av-emotion push --dry-run`)."""
    return [f"{plan.size(path):>12,d}  {path}" for path in plan.paths()]


__all__ = [
    "PICKLE_SUFFIXES",
    "UploadPlan",
    "check_publishable",
    "describe_plan",
    "plan_upload",
    "push_model",
    "push_to_hub",
]
