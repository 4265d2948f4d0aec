"""`import av_emotion` and `av-emotion --help` import no torch; the Auto classes and the pipeline still find everything.

Each check runs in a fresh interpreter (what is imported is the point) and reads `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from av_emotion.cli import SUBCOMMANDS
from av_emotion.registration import MODEL_TYPES
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers.models.auto.modeling_auto", "datasets", "av", "cv2")


def run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter with this tree on the path; it prints one JSON line, returned parsed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_av_emotion_imports_no_torch():
    loaded = run_python(
        f"import json, sys\nimport av_emotion\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in SUBCOMMANDS]])
def test_cli_help_imports_no_torch(argv):
    """`av-emotion --help` imports nothing heavy; `av-emotion COMMAND --help` no torch (synth reads its defaults)."""
    loaded = run_python(
        "import contextlib, io, json, sys\nfrom av_emotion.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'usage: av-emotion' in out.getvalue(), out.getvalue()\n"
        f"print(json.dumps([m for m in {HEAVY if len(argv) == 1 else HEAVY[:2]!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_model_types_listed_for_lazy_registration_are_the_registered_ones():
    from av_emotion import ARCHITECTURES

    assert sorted(MODEL_TYPES) == sorted(ARCHITECTURES)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("lazy") / "tiny")


# The first av_emotion lookup each entry point makes, right after `import av_emotion` (nothing else of it touched).
FIRST_USE = {
    "AutoConfig": "from transformers import AutoConfig as A; name = type(A.from_pretrained(D)).__name__",
    "AutoModel": "from transformers import AutoModel as A; name = type(A.from_pretrained(D)).__name__",
    "AutoProcessor": "from transformers import AutoProcessor as A; name = type(A.from_pretrained(D)).__name__",
    "AutoFeatureExtractor": (
        "from transformers import AutoFeatureExtractor as A; name = type(A.from_pretrained(D)).__name__"
    ),
    "AutoVideoProcessor": "from av_emotion import AutoVideoProcessor as A; name = type(A.from_pretrained(D)).__name__",
    "pipeline": (
        "from transformers import pipeline; name = type(pipeline('audio-video-emotion', model=D, device='cpu')).__name__"
    ),
}
EXPECTED = {
    "AutoConfig": "AVTCAConfig",
    "AutoModel": "AVTCAModel",
    "AutoProcessor": "AVEmotionProcessor",
    "AutoFeatureExtractor": "AVEmotionFeatureExtractor",
    "AutoVideoProcessor": "AVEmotionVideoProcessor",
    "pipeline": "AudioVideoEmotionPipeline",
}


CASES = [
    # The trickiest path stays in the fast suite: a processor found by class name in a deferred registry.
    pytest.param("AutoProcessor", False, id="AutoProcessor-av_emotion-first"),
    *[
        pytest.param(entry, False, id=f"{entry}-av_emotion-first", marks=pytest.mark.slow)
        for entry in sorted(FIRST_USE)
        if entry != "AutoProcessor"
    ],
    # transformers' registries imported before av_emotion: the deferred entries are put in at once.
    pytest.param("AutoProcessor", True, id="AutoProcessor-transformers-first", marks=pytest.mark.slow),
    pytest.param("pipeline", True, id="pipeline-transformers-first", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("entry, transformers_first", CASES)
def test_auto_classes_and_pipeline_find_av_emotion_after_a_bare_import(entry, transformers_first, checkpoint):
    before = "import transformers.pipelines\n" if transformers_first else ""
    loaded = run_python(
        f"import json\n{before}import av_emotion\nD = {str(checkpoint)!r}\n{FIRST_USE[entry]}\nprint(json.dumps(name))"
    )
    assert loaded == EXPECTED[entry]
