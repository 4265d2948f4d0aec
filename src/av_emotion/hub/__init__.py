"""Model cards and Hub publishing.

- `render_model_card(output_dir, results=..., config=...)`: write `README.md` from a run's real numbers, with
  the architecture's template (`av_emotion/hub/templates/`) and `model-index` metadata.
- `push_to_hub(output_dir, repo_id, private=False, revision=None, token=None)`: upload weights (safetensors),
  config, processor config, card and pictures in one commit (`av-emotion push DIR --repo-id USER/NAME`).
- `remote_code_for_config(config)`: the standalone model code and `auto_map` that let the repo load with
  `trust_remote_code=True` where av_emotion is not installed.
"""

from av_emotion.hub.model_card import (
    EVALUATION_FILE,
    MODEL_ID_PLACEHOLDER,
    build_model_card,
    plot_relation_matrix,
    render_model_card,
    template_path_for,
    templates_dir,
)
from av_emotion.hub.publishing import UploadPlan, check_publishable, plan_upload, push_model, push_to_hub
from av_emotion.hub.remote_code import RemoteCodeBundle, build_remote_code, remote_code_for_config

__all__ = [
    "EVALUATION_FILE",
    "MODEL_ID_PLACEHOLDER",
    "RemoteCodeBundle",
    "UploadPlan",
    "build_model_card",
    "build_remote_code",
    "check_publishable",
    "plan_upload",
    "plot_relation_matrix",
    "push_model",
    "push_to_hub",
    "remote_code_for_config",
    "render_model_card",
    "template_path_for",
    "templates_dir",
]
