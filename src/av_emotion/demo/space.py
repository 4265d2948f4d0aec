"""A Hugging Face Space that serves the demo of a Hub model: its files, and the push (`av-emotion push --with-demo`).

The Space is a Gradio Space whose `app.py` is `launch_demo("user/model")`: the page of `av-emotion demo`, loading
the model from the Hub. Its `requirements.txt` installs av_emotion with the `demo` extra; its `README.md` carries
the Space's metadata (`sdk: gradio`, `models: [user/model]`, so the Hub links the model and the Space both ways).
Nothing here imports Gradio.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["default_space_id", "push_demo_space", "space_files"]

SPACE_APP_TEMPLATE = '''"""Web demo of the av_emotion model {repo_id}: upload or record a video, see its emotions over time.

Written by `av-emotion push --with-demo`; the same page runs locally with `av-emotion demo --model {repo_id}`.
"""

from av_emotion.demo import launch_demo

MODEL = "{repo_id}"

if __name__ == "__main__":
    # Spaces route traffic to port 7860 of every interface.
    launch_demo(MODEL, host="0.0.0.0", port=7860)
'''

SPACE_README_TEMPLATE = """---
title: {title}
emoji: 🎭
colorFrom: indigo
colorTo: pink
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
license: apache-2.0
models:
- {repo_id}
---

# {title}

Upload or record a short video (or an audio file) and see which emotions the model
[{repo_id}](https://huggingface.co/{repo_id}) scores over time, the face crops it saw and which modalities it used.
Read the model card's limitations (shown on the page) before trusting an output: it scores how a face and a voice
resemble acted training clips, not what a person feels.

Runs on a CPU, one upload at a time; written by `av-emotion push --with-demo`.
"""

# Our choice when Gradio is not installed where the push runs: the oldest major version the demo supports.
FALLBACK_GRADIO_VERSION = "5.0.0"


def default_space_id(repo_id: str) -> str:
    """Return the Space a model's demo goes to unless told otherwise: `user/name-demo`."""
    return f"{repo_id}-demo"


def _package_requirement() -> str:
    try:
        package_version = version("av-emotion")
    except PackageNotFoundError:
        import av_emotion

        package_version = av_emotion.__version__
    return f"av-emotion[demo]=={package_version}"


def space_files(repo_id: str, requirement: str | None = None) -> dict[str, bytes]:
    """Return the files of the demo Space of the Hub model `repo_id`: `app.py`, `requirements.txt`, `README.md`.

    Args:
        repo_id: The model repo (`user/name`) the Space loads.
        requirement: The pip requirement that installs av_emotion with its demo extra (default
            `av-emotion[demo]==<this version>`; pass e.g. `av-emotion[demo] @ git+https://...` for an unreleased
            version).
    """
    if "/" not in repo_id:
        raise ValueError(f"repo_id {repo_id!r} must look like user/name (or org/name)")
    try:
        gradio_version = version("gradio")
    except PackageNotFoundError:
        gradio_version = FALLBACK_GRADIO_VERSION
    requirements = (
        "# av_emotion and its web demo (Gradio); the model's own code and processor come with it.\n"
        f"{requirement or _package_requirement()}\n"
    )
    readme = SPACE_README_TEMPLATE.format(
        title=f"{repo_id.split('/')[-1]} demo", repo_id=repo_id, gradio_version=gradio_version
    )
    return {
        "app.py": SPACE_APP_TEMPLATE.format(repo_id=repo_id).encode("utf-8"),
        "requirements.txt": requirements.encode("utf-8"),
        "README.md": readme.encode("utf-8"),
    }


def push_demo_space(
    repo_id: str,
    space_id: str | None = None,
    *,
    private: bool = False,
    requirement: str | None = None,
    token: str | None = None,
    api: Any = None,
):
    """Create (or update) the Gradio Space serving the demo of `repo_id` in one commit; returns the `CommitInfo`.

    Args:
        repo_id: The model repo the Space loads.
        space_id: The Space (`user/name`); default `default_space_id(repo_id)`.
        private: Create the Space private (an existing Space keeps its visibility).
        requirement: As `space_files`.
        token: A Hub token; default huggingface_hub's usual sources. Never written or printed.
        api: An `HfApi` to use (tests pass a fake one).
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    space_id = space_id or default_space_id(repo_id)
    if "/" not in space_id:
        raise ValueError(f"space_id {space_id!r} must look like user/name (or org/name)")
    api = api if api is not None else HfApi(token=token)
    api.create_repo(repo_id=space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=content)
        for name, content in sorted(space_files(repo_id, requirement).items())
    ]
    return api.create_commit(
        repo_id=space_id,
        repo_type="space",
        operations=operations,
        commit_message=f"Demo of {repo_id} (av-emotion push --with-demo)",
    )
