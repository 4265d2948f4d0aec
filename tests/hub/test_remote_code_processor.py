"""A pushed folder runs end to end without av_emotion: `AutoProcessor` + `AutoModel*` with `trust_remote_code=True`.

The folder holds exactly what `push_to_hub` uploads (`plan_upload`). The child interpreter blocks `import av_emotion`
and has no `src/` on its path, as for a user without the package; it decodes the same mp4 with the repo's processor
and compares the logits (head) and embeddings (base model) with the package's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import save_file

from av_emotion import ARCHITECTURES, AVEmotionProcessor
from av_emotion.hub.publishing import plan_upload
from tests.modeling.test_processor_to_model import config_for_preset
from tests.pipelines.generated_media import write_video

CHILD = textwrap.dedent(
    """
    import json, sys

    sys.modules["av_emotion"] = None  # `import av_emotion` fails: only the repo's own code can run
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForVideoClassification, AutoProcessor

    folders, clip = json.loads(sys.argv[1]), sys.argv[2]
    report = {}
    for name, folder in folders.items():
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        head = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
        base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        inputs = processor(paths=[clip])
        expected = load_file(folder + "/expected.safetensors")
        with torch.no_grad():
            logits = head(**inputs).logits
            embeddings = base(**inputs).embeddings
        report[name] = {
            "processor": type(processor).__module__,
            "model": type(head).__module__,
            "logits": (logits - expected["logits"]).abs().max().item(),
            "embeddings": (embeddings - expected["embeddings"]).abs().max().item(),
            "inputs": max((inputs[k].float() - expected[k].float()).abs().max().item() for k in expected if k in inputs),
        }
    print("REPORT " + json.dumps(report))
    """
)


def test_folder_runs_with_trust_remote_code_and_no_package(tmp_path: Path):
    clip = write_video(tmp_path / "clip.mp4", duration_s=2.4, fps=10)
    folders = {}
    for model_type in sorted(ARCHITECTURES):
        torch.manual_seed(0)
        model = ARCHITECTURES[model_type].classification_class(config_for_preset(model_type, "cpu_small")).eval()
        processor = AVEmotionProcessor.from_preset("cpu_small")
        saved = tmp_path / f"saved_{model_type}"
        model.save_pretrained(saved)
        processor.save_pretrained(saved)
        repo = tmp_path / f"repo_{model_type}"
        repo.mkdir()
        for name, source in plan_upload(saved).files.items():  # what a push uploads, nothing else
            (repo / name).write_bytes(source if isinstance(source, bytes) else source.read_bytes())
        inputs = processor(paths=[str(clip)])
        with torch.no_grad():
            expected = {
                "logits": model(**inputs).logits,
                "embeddings": model.base_model(**inputs).embeddings,
                **{k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)},
            }
        save_file({k: v.contiguous() for k, v in expected.items()}, str(repo / "expected.safetensors"))
        folders[model_type] = str(repo)

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(folders), str(clip)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the repository: its src/ must not be importable
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.split("REPORT ", 1)[1])
    for model_type, entry in report.items():
        assert entry["processor"].startswith("transformers_modules."), entry
        assert entry["model"].startswith("transformers_modules."), entry
        assert entry["inputs"] == 0.0, (model_type, entry)
        assert entry["logits"] < 1e-5 and entry["embeddings"] < 1e-5, (model_type, entry)
