"""Loading a pushed repo back: from the Hub cache layout with HF_HUB_OFFLINE=1, with and without av_emotion.

The repo content is exactly what `push_to_hub` committed (captured from a patched `HfApi`), laid out as
huggingface_hub caches a download (`models--user--repo/snapshots/<sha>/...` and `refs/main`). Loading runs
in a fresh Python process so that `HF_HUB_CACHE` and `HF_HUB_OFFLINE` are read at import, as for a user.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import av_emotion
from av_emotion.hub import push_to_hub, remote_code_for_config
from av_emotion.hub.model_card import EXAMPLE_CLIP
from av_emotion.modeling import ARCHITECTURES
from tests.hub.conftest import MODEL_TYPES, build_tiny_model, save_processor, save_run
from tests.hub.test_publishing import HubRecorder
from tests.processing.media_factory import write_media

SRC = Path(av_emotion.__file__).resolve().parents[1]

# Both loads in one process (one torch + transformers import): first without av_emotion (blocked, installed or
# not) through the repo's own code, then with the package, whose classes must win over the repo's auto_map.
CHILD = textwrap.dedent(
    """
    import contextlib, io, json, re, sys

    sys.modules["av_emotion"] = None  # `import av_emotion` fails until this entry is removed

    import torch
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file
    from transformers import AutoModelForVideoClassification

    repos = json.loads(sys.argv[1])
    placeholder_clip, clip = sys.argv[2], sys.argv[3]
    report = {"without_package": {}, "with_package": {}}

    def score(mode, repo_id, model):
        tensors = load_file(repos[repo_id])
        expected = tensors.pop("expected_logits")
        with torch.no_grad():
            logits = model.eval()(**tensors).logits
        report[mode][repo_id] = {
            "module": type(model).__module__,
            "max_difference": (logits - expected).abs().max().item(),
        }

    for repo_id in repos:
        score("without_package", repo_id, AutoModelForVideoClassification.from_pretrained(repo_id, trust_remote_code=True))

    del sys.modules["av_emotion"]
    import av_emotion
    from av_emotion import AutoModelForAudioVideoClassification

    for repo_id in repos:
        score("with_package", repo_id, AutoModelForAudioVideoClassification.from_pretrained(repo_id))
        # The card's own snippets, as a user copies them, against the repo id.
        card = open(hf_hub_download(repo_id, "README.md"), encoding="utf-8").read()
        usage = card[card.index("## How to use"):]
        usage = usage[: usage.find("\\n## ", 5)]
        blocks = re.findall(r"```python\\n(.*?)```", usage, flags=re.DOTALL)
        for block in blocks:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(block.replace(placeholder_clip, clip), {})
        report["with_package"][repo_id]["snippets"] = len(blocks)
        report["with_package"][repo_id]["processor_snippet"] = any("AutoProcessor" in block for block in blocks)
    print("REPORT " + json.dumps(report))
    """
)


def _layout_as_hub_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> str:
    """Write `files` as huggingface_hub's cache holds a downloaded repo; returns the snapshot's commit sha."""
    sha = hashlib.sha1(b"".join(name.encode() + content for name, content in sorted(files.items()))).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_bytes(content)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    return sha


def _run_child(repos: dict[str, str], cache: Path, tmp_path: Path, clip: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE"))}
    env.update(
        HF_HUB_CACHE=str(cache),
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env["PYTHONPATH"] = str(SRC)
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(repos), EXAMPLE_CLIP, str(clip)],
        cwd=tmp_path,  # not the repository root: `src/` is not importable from here
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-4000:]
    return json.loads(lines[-1][len("REPORT ") :])


@pytest.fixture(scope="module")
def pushed_repos(tmp_path_factory):
    """Every registered architecture pushed (tiny) through a patched HfApi into one Hub cache."""
    tmp_path = tmp_path_factory.mktemp("hub")
    cache = tmp_path / "hub_cache"
    repos = {}
    monkeypatch = pytest.MonkeyPatch()
    try:
        for model_type in MODEL_TYPES:
            recorder = HubRecorder().install(monkeypatch)
            run = tmp_path / model_type
            save_run(run, model_type)
            if model_type == "avt_ca":
                save_processor(run)  # matches the tiny AVT-CA: its card shows the processor (and pipeline) snippets
            repo_id = f"alice/{model_type.replace('_', '-')}-tiny"
            push_to_hub(run, repo_id)
            _layout_as_hub_cache(cache, repo_id, recorder.files)
            model = build_tiny_model(model_type)
            generator = torch.Generator().manual_seed(1)
            inputs = {
                name: torch.randn(value.shape, generator=generator) if value.is_floating_point() else value
                for name, value in model.dummy_inputs.items()
            }
            with torch.no_grad():
                inputs["expected_logits"] = model(**inputs).logits
            inputs_file = tmp_path / f"{model_type}_inputs.safetensors"
            save_file({name: value.contiguous() for name, value in inputs.items()}, str(inputs_file))
            repos[repo_id] = str(inputs_file)
    finally:
        monkeypatch.undo()
    clip = tmp_path / "clip.mp4"
    write_media(clip, duration_s=1.0)  # grey frames and a tone: no face, so the processor centre-crops
    return tmp_path, cache, repos, clip


def test_loads_offline_from_the_hub_cache_with_and_without_the_package(pushed_repos):
    tmp_path, cache, repos, clip = pushed_repos
    report = _run_child(repos, cache, tmp_path, clip)
    for repo_id in repos:
        # Without av_emotion: the repo's own copy of the code (trust_remote_code), same outputs.
        entry = report["without_package"][repo_id]
        assert entry["module"].startswith("transformers_modules."), entry
        assert entry["max_difference"] < 1e-5, (repo_id, entry)
        # With it: the package's classes (the repo's auto_map is not used), same outputs, and the card's
        # snippets run against the repo id.
        entry = report["with_package"][repo_id]
        assert entry["module"].startswith("av_emotion.modeling."), entry
        assert entry["max_difference"] < 1e-5, (repo_id, entry)
        # Every python block of the card ran: the model (with the processor on a clip for AVT-CA, whose processor
        # was saved; plus the pipeline when the package has it) and the trust_remote_code one.
        assert entry["snippets"] >= 2
        assert entry["processor_snippet"] == repo_id.startswith("alice/avt-ca"), entry


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_remote_code_bundle_is_self_contained(tmp_path: Path, model_type: str):
    save_run(tmp_path, model_type, with_results=False, with_picture=False)
    config = json.loads((tmp_path / "config.json").read_text())
    bundle = remote_code_for_config(config)
    architecture = ARCHITECTURES[model_type]
    assert bundle.auto_map["AutoConfig"].endswith(f".{architecture.config_class.__name__}")
    assert bundle.auto_map["AutoModel"].endswith(f".{architecture.model_class.__name__}")
    assert bundle.auto_map["AutoModelForVideoClassification"].endswith(f".{config['architectures'][0]}")
    for name, text in bundle.files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), (name, node.module)
                assert not (node.module or "").startswith("av_emotion"), (name, node.module)
                if node.level == 1:
                    assert f"{node.module}.py" in bundle.files, (name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("av_emotion") for alias in node.names), name
    for reference in bundle.auto_map.values():
        assert f"{reference.split('.')[0]}.py" in bundle.files
