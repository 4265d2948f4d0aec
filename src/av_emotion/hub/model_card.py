"""Model cards rendered from a run's real numbers: `render_model_card(output_dir, results=..., config=...)`.

A card is built from what a finished run leaves in its folder (see `av_emotion.training`):

- `config.json` (required): the architecture, its sizes and its labels;
- `results.json`: the run's record (corpus, fold, speakers per split, test metrics, best validation epoch);
- `recipe.yaml`: the resolved training recipe (optimizer, schedule, batch, seed);
- `evaluation.json` (optional): the cross-validation summary written by
  `av-emotion evaluate --fold all --output <dir>/evaluation.json` (`{"runs": [...], "summary": {...}}`),
  which gives the mean ± std over folds and seeds;
- `processor_config.json`: the saved processor (its settings are listed on the card);
- `confusion_matrix.png`: shown on the card when present.

The text lives in Jinja templates shipped inside the package (`av_emotion/hub/templates/<model_type>.md`, one
per architecture, and `templates/partials/*.md` for the sections every card shares), so an installed package
renders cards too. Python only gathers the facts; the templates say them. The card is rendered through
`huggingface_hub.ModelCard.from_template` with a `ModelCardData` whose `eval_results` become the `model-index`
metadata the Hub reads.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

CARD_FILE = "README.md"
RESULTS_FILE = "results.json"
RECIPE_FILE = "recipe.yaml"
EVALUATION_FILE = "evaluation.json"
PROCESSOR_FILE = "processor_config.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
RELATION_MATRIX_FILE = "emotion_relation_matrix.png"
# Shown in the usage snippets of a card rendered before the model has a Hub repo id.
MODEL_ID_PLACEHOLDER = "path/to/this/model"
EXAMPLE_CLIP = "path/to/clip.mp4"
# Last line of every rendered card: `push_to_hub` renders again only cards that carry it, never a hand-written one.
CARD_MARKER = "<!-- rendered by av_emotion"
# A model with fewer parameters than this share of its paper-size configuration is called tiny on its card.
TINY_PARAMETER_SHARE = 0.25

logger = logging.getLogger(__name__)

# Display name, model-index metric type and arguments of each metric the recipes write (fractions in [0, 1]
# for the classification scores, raw values for CCC and loss).
_METRICS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "accuracy": ("Accuracy (WAR)", "accuracy", None),
    "uar": ("UAR (unweighted average recall)", "recall", {"average": "macro"}),
    "macro_f1": ("Macro-F1", "f1", {"average": "macro"}),
    "ccc": ("CCC (mean over targets)", "ccc", None),
    "loss": ("Loss", "loss", None),
}
_PERCENT_METRICS = ("accuracy", "uar", "macro_f1")
# Axes of the model inputs, for the usage snippet and the no-processor input description.
_INPUT_AXES = {
    "pixel_values_videos": "(batch, frames, channels, height, width), float face crops",
    "input_features": "(batch, audio features, audio frames), float",
    "input_values": "(batch, samples), float mono waveform",
    "video_mask": "(batch, frames), bool, True at real frames",
    "audio_mask": "(batch, audio frames), bool, True at real audio frames",
}
# Licence of the card per training corpus. Our conservative reading, not legal advice: weights trained on a
# non-commercial corpus are published under that corpus' terms; everything else under the code's licence.
_CORPUS_LICENCES = {
    "ravdess": (
        "cc-by-nc-sa-4.0",
        "RAVDESS is released under CC BY-NC-SA 4.0 (attribution, non-commercial, share-alike). We publish "
        "models trained on it under the same terms; that is our cautious reading, not legal advice.",
    ),
    "cremad": (
        "odbl",
        "CREMA-D is released under the Open Database License (ODbL) with the Database Contents License. We "
        "publish models trained on it under the ODbL; that is our cautious reading, not legal advice.",
    ),
}
_DEFAULT_LICENCE = "apache-2.0"
_CORPUS_NAMES = {"ravdess": "RAVDESS", "cremad": "CREMA-D", "synthetic": "synthetic (av_emotion)"}


# ---------------------------------------------------------------------------------------------------
# Reading a run folder
# ---------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); fix or remove it and render the card again") from None


def _read_recipe(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or None


def _load_evaluation(evaluation: Mapping[str, Any] | str | Path | None, output_dir: Path) -> dict[str, Any] | None:
    if evaluation is None:
        return _read_json(output_dir / EVALUATION_FILE)
    if isinstance(evaluation, (str, Path)):
        loaded = _read_json(Path(evaluation))
        if loaded is None:
            raise FileNotFoundError(
                f"evaluation summary {evaluation} not found (write it with av-emotion evaluate --output)"
            )
        return loaded
    return dict(evaluation)


# ---------------------------------------------------------------------------------------------------
# Facts about the model
# ---------------------------------------------------------------------------------------------------


@dataclass
class _ModelFacts:
    model_type: str
    config_class: str
    head: str  # "classification" or "regression"
    head_class: type
    auto_class: str
    labels: list[str]
    num_parameters: int
    reference_parameters: int | None
    input_example: list[dict[str, str]]


def _meta_model(head_class: type, config: Any):
    import torch

    with torch.device("meta"):
        return head_class(config)


def _inspect_model(output_dir: Path, config_json: dict[str, Any]) -> _ModelFacts:
    """Architecture, head, labels, parameter counts and input shapes, without loading the weights."""
    import torch

    import av_emotion  # noqa: F401  (registers every architecture)
    from av_emotion.modeling import ARCHITECTURES

    model_type = config_json.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"{output_dir / 'config.json'}: model_type {model_type!r} is not a registered av_emotion architecture "
            f"({sorted(ARCHITECTURES)}); a card can only be rendered for one of them"
        )
    architecture = ARCHITECTURES[model_type]
    saved = (config_json.get("architectures") or [None])[0]
    regression = architecture.regression_class
    is_regression = config_json.get("problem_type") == "regression" or (
        regression is not None and regression.__name__ == saved
    )
    if is_regression and regression is None:
        raise ValueError(f"{output_dir}: config says regression but {model_type} has no regression head")
    head_class = regression if is_regression else architecture.classification_class
    config = architecture.config_class.from_pretrained(str(output_dir))
    model = _meta_model(head_class, config)
    num_parameters = sum(parameter.numel() for parameter in model.parameters())
    try:
        # The paper-size configuration (every default), with this model's labels.
        reference_config = architecture.config_class(id2label=dict(config.id2label))
        reference = _meta_model(head_class, reference_config)
        reference_parameters: int | None = sum(parameter.numel() for parameter in reference.parameters())
    except Exception as error:  # a default config that does not fit these labels: say nothing about size
        logger.warning("could not build the default %s configuration for comparison: %s", model_type, error)
        reference_parameters = None
    input_example = []
    for name, tensor in model.dummy_inputs.items():
        shape = (1, *tensor.shape[1:])
        dims = ", ".join(str(size) for size in shape)
        code = f"torch.ones({dims}, dtype=torch.bool)" if tensor.dtype == torch.bool else f"torch.randn({dims})"
        axes = _INPUT_AXES.get(name, "")
        input_example.append(
            {"name": name, "code": code, "axes": axes, "description": f"shape `{tuple(shape)}` {axes}".rstrip()}
        )
    if is_regression:
        labels = ["valence", "arousal"]
        auto_class = "AutoModelForAudioVideoRegression"
    else:
        labels = [config.id2label[index] for index in range(len(config.id2label))]
        auto_class = "AutoModelForAudioVideoClassification"
    return _ModelFacts(
        model_type=model_type,
        config_class=architecture.config_class.__name__,
        head="regression" if is_regression else "classification",
        head_class=head_class,
        auto_class=auto_class,
        labels=labels,
        num_parameters=num_parameters,
        reference_parameters=reference_parameters,
        input_example=input_example,
    )


def plot_relation_matrix(matrix: Sequence[Sequence[float]], label_names: Sequence[str], path: str | Path) -> Path:
    """Save a learned emotion relation matrix `(K, K)` as a PNG heat map with its values, and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.asarray(matrix, dtype=float)
    if values.shape != (len(label_names), len(label_names)):
        raise ValueError(f"relation matrix of shape {values.shape} does not match {len(label_names)} labels")
    size = max(4.0, 0.6 * len(label_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(values, cmap="viridis")
    axes.set_xticks(range(len(label_names)), label_names, rotation=45, ha="right")
    axes.set_yticks(range(len(label_names)), label_names)
    middle = (values.max() + values.min()) / 2
    for i in range(len(label_names)):
        for j in range(len(label_names)):
            colour = "black" if values[i, j] > middle else "white"
            axes.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", color=colour, fontsize=8)
    axes.set_title("learned emotion relation (triplet margin scale)")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def _render_relation_matrix(output_dir: Path, facts: _ModelFacts) -> str | None:
    """Plot the model's learned relation matrix, when its head has one; returns the file name or None."""
    if not hasattr(facts.head_class, "emotion_relation_matrix"):
        return None
    if not any(output_dir.glob("*.safetensors")):
        return None
    model = facts.head_class.from_pretrained(str(output_dir))
    matrix = model.emotion_relation_matrix()
    plot_relation_matrix(matrix.float().cpu().numpy(), facts.labels, output_dir / RELATION_MATRIX_FILE)
    return RELATION_MATRIX_FILE


# ---------------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric_label(key: str) -> str:
    if key in _METRICS:
        return _METRICS[key][0]
    if key.startswith("ccc_"):
        return f"CCC {key[4:]}"
    return key


def _format(key: str, value: float) -> str:
    return f"{100 * value:.2f} %" if key in _PERCENT_METRICS else f"{value:.4f}"


def _ordered_metric_keys(metrics: Mapping[str, Any]) -> list[str]:
    scalar = [key for key, value in metrics.items() if _is_number(value)]
    known = [key for key in ("accuracy", "uar", "macro_f1", "ccc") if key in scalar]
    ccc = sorted(key for key in scalar if key.startswith("ccc_"))
    rest = [key for key in scalar if key not in known and key not in ccc and key != "loss"]
    return known + ccc + rest + (["loss"] if "loss" in scalar else [])


def _eval_results(
    metrics: Mapping[str, float],
    *,
    task_type: str,
    task_name: str,
    corpus: str,
    dataset_name: str,
    dataset_config: str | None,
    spread: Mapping[str, tuple[float, int]] | None = None,
):
    """One `EvalResult` per scalar metric (loss excluded), values exactly as the metrics JSON holds them."""
    from huggingface_hub import EvalResult

    results = []
    for key in _ordered_metric_keys(metrics):
        if key == "loss":
            continue
        label, metric_type, metric_args = _METRICS.get(key, (_metric_label(key), key, None))
        if key.startswith("ccc_"):
            metric_type, metric_args = "ccc", {"target": key[4:]}
        name = label
        if spread is not None and key in spread:
            std, n = spread[key]
            name = f"{label}, mean over {n} runs (std {std:.4f})"
        results.append(
            EvalResult(
                task_type=task_type,
                task_name=task_name,
                dataset_type=corpus,
                dataset_name=dataset_name,
                dataset_config=dataset_config,
                dataset_split="test",
                metric_type=metric_type,
                metric_name=name,
                metric_value=metrics[key],
                metric_args=metric_args,
            )
        )
    return results


# ---------------------------------------------------------------------------------------------------
# Table rows
# ---------------------------------------------------------------------------------------------------


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)) and len(value) > 12:
            rows.append((name, f"[{len(value)} values]"))
        else:
            rows.append((name, json.dumps(value) if not isinstance(value, str) else value))
    return rows


def _processor_summary(processor: Mapping[str, Any]) -> list[str]:
    """Summarise in a few lines the settings that shape the model's inputs (the full table follows on the card)."""
    video = processor.get("video_processor") or {}
    audio = processor.get("feature_extractor") or {}
    lines = []
    if video:
        size = video.get("size")
        size = f"{size.get('height')}×{size.get('width')}" if isinstance(size, Mapping) else str(size)
        crop = "faces cropped (largest face, tracked)" if video.get("do_face_crop") else "whole frames, no face crop"
        lines.append(
            f"video: {video.get('num_frames')} frames sampled uniformly, {size} pixels, {crop}, normalised with "
            f"mean {video.get('image_mean')} and std {video.get('image_std')}"
        )
    if audio:
        if audio.get("feature_type") == "mfcc":
            features = f"{audio.get('n_mfcc')} MFCCs (from {audio.get('n_mels')} mel bands)"
        else:
            features = f"{audio.get('n_mels')}-band log-mel spectrogram"
        if audio.get("win_length_ms") is not None:
            framing = f"{audio.get('win_length_ms')} ms windows every {audio.get('hop_length_ms')} ms"
        else:
            framing = f"{audio.get('win_length')}-sample windows every {audio.get('hop_length')} samples"
        lines.append(f"audio: mono at {audio.get('sampling_rate')} Hz, {features}, {framing}")
    duration = processor.get("clip_duration_s")
    if duration:
        lines.append(f"clip: a {duration:g} s window at the {processor.get('clip_position', 'center')} of each file")
    else:
        lines.append("clip: the whole file")
    return lines


def _pipeline_task() -> str | None:
    """Return the pipeline task av_emotion registers, or None when this version has no pipeline."""
    try:
        from av_emotion.pipelines import PIPELINE_TASK
    except ImportError:
        return None
    return PIPELINE_TASK


def _config_rows(config_json: Mapping[str, Any]) -> list[tuple[str, str]]:
    from transformers import PretrainedConfig

    base = set(PretrainedConfig().to_dict()) | {"auto_map", "torch_dtype"}
    return [(key, value) for key, value in _flatten({k: v for k, v in config_json.items() if k not in base})]


def _speaker_text(speakers: Sequence[Any]) -> str:
    return ", ".join(str(speaker) for speaker in speakers) if speakers else "none"


def _ravdess_genders(speakers: Sequence[Any]) -> dict[str, int] | None:
    """RAVDESS actors: odd numbers are male, even numbers female (corpus documentation)."""
    try:
        numbers = [int(speaker) for speaker in speakers]
    except (TypeError, ValueError):
        return None
    return {"male": sum(number % 2 for number in numbers), "female": sum(1 - number % 2 for number in numbers)}


def _protocol(name: str | None) -> dict[str, str] | None:
    if not name:
        return None
    try:
        from av_emotion.data.folds import FOLD_PROTOCOLS
    except ImportError:
        return {"name": name, "source": "see av_emotion.data.folds"}
    protocol = FOLD_PROTOCOLS.get(name)
    return {"name": name, "source": getattr(protocol, "source", "see av_emotion.data.folds")}


def _augmentation_text(recipe: Mapping[str, Any] | None) -> str:
    section = (recipe or {}).get("augmentation") or {}
    parts = []
    if section.get("video_flip_prob"):
        parts.append(f"horizontal flips (p = {section['video_flip_prob']})")
    if section.get("freq_mask_param"):
        parts.append(f"SpecAugment frequency masks up to {section['freq_mask_param']} bins")
    if section.get("time_mask_param"):
        parts.append(f"SpecAugment time masks up to {section['time_mask_param']} frames")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------


def templates_dir() -> Path:
    """Return the folder of the shipped card templates (`<model_type>.md`, `default.md`, `partials/`)."""
    return Path(str(resources.files("av_emotion.hub") / "templates"))


def template_path_for(model_type: str) -> Path:
    """Return the card template of an architecture, or the generic one when it has none."""
    path = templates_dir() / f"{model_type}.md"
    return path if path.is_file() else templates_dir() / "default.md"


def _render_partials(context: dict[str, Any]) -> dict[str, str]:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "partials")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    return {
        Path(name).stem: environment.get_template(name).render(**context).strip()
        for name in environment.list_templates(extensions=["md"])
    }


def _tidy(text: str) -> str:
    """Collapse the blank lines that empty sections leave behind."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---------------------------------------------------------------------------------------------------
# The public function
# ---------------------------------------------------------------------------------------------------


def build_model_card(
    output_dir: str | Path,
    *,
    results: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | str | Path | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    license: str | None = None,
    remote_code: bool = False,
    template_path: str | Path | None = None,
    plot_relations: bool = True,
    demo_space: str | None = None,
):
    """Build (without writing it) the `huggingface_hub.ModelCard` of the model saved in `output_dir`.

    Arguments as in `render_model_card`. Returns the `ModelCard`.
    """
    from huggingface_hub import ModelCard, ModelCardData

    output_dir = Path(output_dir)
    config_path = output_dir / "config.json"
    config_json = _read_json(config_path)
    if config_json is None:
        raise FileNotFoundError(f"{config_path} not found: render a card for a folder written by save_pretrained")
    run = dict(results) if results is not None else _read_json(output_dir / RESULTS_FILE)
    recipe = dict(config) if config is not None else _read_recipe(output_dir / RECIPE_FILE)
    summary = _load_evaluation(evaluation, output_dir)
    facts = _inspect_model(output_dir, config_json)

    corpus = (run or {}).get("corpus") or ((recipe or {}).get("data") or {}).get("corpus")
    test_metrics = {key: value for key, value in ((run or {}).get("test") or {}).items() if _is_number(value)}
    speakers = (run or {}).get("speakers") or {}
    split_sizes = (run or {}).get("split_sizes") or {}
    parameter_share = facts.num_parameters / facts.reference_parameters if facts.reference_parameters else None
    subset = ((recipe or {}).get("data") or {}).get("max_clips_per_split")
    global_step = (run or {}).get("global_step")
    flags = {
        "no_results": run is None,
        "untrained": run is None or global_step == 0,
        "untrained_reason": (
            "No training record (`results.json`) was found beside these weights, so nothing shows that they were "
            "trained: treat the model as untrained until it is evaluated."
            if run is None
            else "Its training run made 0 optimizer steps."
        ),
        "tiny": parameter_share is not None and parameter_share < TINY_PARAMETER_SHARE,
        "synthetic": corpus == "synthetic",
        "subset": subset,
    }

    # Results: this run's test fold, and the cross-validation summary when there is one.
    metric_rows = [
        {"key": key, "label": _metric_label(key), "value": _format(key, value)}
        for key, value in ((key, test_metrics[key]) for key in _ordered_metric_keys(test_metrics))
    ]
    summary_metrics = (summary or {}).get("summary") or {}
    summary_keys = [
        key
        for key in _ordered_metric_keys({k: v.get("mean") for k, v in summary_metrics.items()})
        if isinstance(summary_metrics.get(key), Mapping)
    ]
    summary_rows = [
        {
            "label": _metric_label(key),
            "mean": _format(key, summary_metrics[key]["mean"]),
            "std": _format(key, summary_metrics[key]["std"]),
            "n": summary_metrics[key].get("n", len(summary_metrics[key].get("values", []))),
            "values": ", ".join(_format(key, value) for value in summary_metrics[key].get("values", [])),
        }
        for key in summary_keys
    ]
    summary_split = ((summary or {}).get("runs") or [{}])[0].get("split", "test")
    per_class = ((run or {}).get("test") or {}).get("per_class_recall")
    per_class_rows = (
        [
            {"label": label, "value": "n/a (no test clip)" if value is None else _format("uar", value)}
            for label, value in zip(facts.labels, per_class)
        ]
        if per_class and facts.head == "classification"
        else []
    )
    best_validation = (run or {}).get("best_validation")
    metric_for_best = (run or {}).get("metric_for_best")

    # Model-index: the cross-validation means when there are some, else this run's test scores.
    task_type = "video-classification"
    task_name = "Audio-video emotion recognition" + (" (valence/arousal)" if facts.head == "regression" else "")
    corpus_name = _CORPUS_NAMES.get(corpus or "", corpus or "unknown")
    protocol = _protocol((run or {}).get("fold_protocol"))
    eval_results = []
    if summary_keys:
        means = {key: summary_metrics[key]["mean"] for key in summary_keys if _is_number(summary_metrics[key]["mean"])}
        spread = {key: (summary_metrics[key]["std"], summary_metrics[key].get("n", 0)) for key in means}
        eval_results = _eval_results(
            means,
            task_type=task_type,
            task_name=task_name,
            corpus=corpus or "unknown",
            dataset_name=f"{corpus_name}, speaker-independent cross-validation",
            dataset_config=protocol["name"] if protocol else None,
            spread=spread,
        )
    elif test_metrics:
        fold = (run or {}).get("fold")
        eval_results = _eval_results(
            test_metrics,
            task_type=task_type,
            task_name=task_name,
            corpus=corpus or "unknown",
            dataset_name=f"{corpus_name}, speaker-independent fold {fold}",
            dataset_config=f"{protocol['name']}/fold_{fold}" if protocol else f"fold_{fold}",
        )

    licence, licence_text = _CORPUS_LICENCES.get(corpus or "", (_DEFAULT_LICENCE, ""))
    licence = license or licence
    if model_name is None:
        if repo_id:
            model_name = repo_id.split("/")[-1]
        elif run is not None:
            model_name = f"{facts.model_type}-{corpus}-fold{run.get('fold')}"
        else:
            model_name = output_dir.resolve().name
    tags = ["av-emotion", "audio-video", "emotion-recognition", "multimodal", facts.model_type]
    if corpus:
        tags.append(corpus)
    card_data = ModelCardData(
        model_name=model_name,
        license=licence,
        library_name="transformers",
        # No pipeline_tag: the Hub has no audio-video emotion task, and `pipeline("video-classification")` would
        # run the video branch alone with transformers' own preprocessing. Cards show what runs instead:
        # `pipeline("audio-video-emotion")` with av_emotion, the remote-code processor and model without it.
        tags=tags,
        metrics=sorted({result.metric_type for result in eval_results}) or None,
        eval_results=eval_results or None,
    )

    processor_json = _read_json(output_dir / PROCESSOR_FILE)
    pictures = {
        "confusion_matrix": CONFUSION_MATRIX_FILE if (output_dir / CONFUSION_MATRIX_FILE).is_file() else None,
        "relation_matrix": _render_relation_matrix(output_dir, facts) if plot_relations else None,
    }
    import av_emotion

    context: dict[str, Any] = {
        "model_name": model_name,
        "model_id": repo_id or MODEL_ID_PLACEHOLDER,
        "model_id_is_placeholder": repo_id is None,
        "example_clip": EXAMPLE_CLIP,
        "model_type": facts.model_type,
        "config_class": facts.config_class,
        "head": facts.head,
        "head_class": facts.head_class.__name__,
        "auto_class": facts.auto_class,
        "labels": facts.labels,
        "model_config": config_json,
        "config_rows": _config_rows(config_json),
        "num_parameters": facts.num_parameters,
        "reference_parameters": facts.reference_parameters,
        "parameter_share": parameter_share,
        "input_example": facts.input_example,
        "flags": flags,
        "run": run,
        "recipe": recipe,
        "corpus": corpus,
        "protocol": protocol,
        "splits": [
            {"name": name, "speakers": _speaker_text(speakers.get(name) or []), "clips": split_sizes.get(name, "?")}
            for name in ("train", "validation", "test")
            if speakers.get(name) or split_sizes.get(name)
        ],
        "test_speakers": _speaker_text(speakers.get("test") or []),
        "test_clips": split_sizes.get("test", "?"),
        "test_gender": _ravdess_genders(speakers.get("test") or []) if corpus == "ravdess" else None,
        "skipped_media": len((run or {}).get("skipped_media") or []),
        "optimizer_name": {"adamw": "AdamW", "sgd": "SGD"}.get(
            ((recipe or {}).get("optimizer") or {}).get("name", ""), "The optimizer"
        ),
        "augmentation": _augmentation_text(recipe),
        "metric_rows": metric_rows,
        "summary_rows": summary_rows,
        "summary_runs": len((summary or {}).get("runs") or []) or (summary_rows[0]["n"] if summary_rows else 0),
        "summary_split": summary_split,
        "per_class_rows": per_class_rows,
        "chance_uar": _format("uar", 1 / len(facts.labels)) if facts.head == "classification" else None,
        "best_validation": (
            _format(metric_for_best, best_validation) if _is_number(best_validation) and metric_for_best else None
        ),
        "pictures": pictures,
        "processor_rows": _flatten(processor_json) if processor_json else None,
        "processor_summary": _processor_summary(processor_json) if processor_json else [],
        "pipeline_task": _pipeline_task(),
        "processor_preset": ((recipe or {}).get("processor") or {}).get("preset"),
        "processor_overrides": ", ".join(
            f"`{key}={value!r}`"
            for key, value in (((recipe or {}).get("processor") or {}).get("overrides") or {}).items()
        ),
        "processor_class": (processor_json or {}).get("processor_class", "AVEmotionProcessor"),
        "remote_code": remote_code,
        "dataset_licence": licence_text,
        "package_version": av_emotion.__version__,
        "demo_space": demo_space,
    }
    context["sections"] = _render_partials(context)
    template = Path(template_path) if template_path is not None else template_path_for(facts.model_type)
    card = ModelCard.from_template(card_data, template_path=str(template), **context)
    marker = (
        f"{CARD_MARKER} {av_emotion.__version__} from the files of the run (render_model_card); "
        "`av-emotion push` renders it again unless given --keep-card -->"
    )
    # The published backbones the model starts from, with the notices their licences require (issue 14).
    from av_emotion.convert.pretrained import provenance_card_section, read_provenance

    backbones = provenance_card_section(read_provenance(output_dir))
    return ModelCard(_tidy(f"{card}\n\n{backbones}\n\n{marker}" if backbones else f"{card}\n\n{marker}"))


def render_model_card(
    output_dir: str | Path,
    *,
    results: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | str | Path | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    license: str | None = None,
    remote_code: bool = False,
    template_path: str | Path | None = None,
    plot_relations: bool = True,
    demo_space: str | None = None,
) -> Path:
    """Render the model card of the model saved in `output_dir` into `output_dir/README.md`, and return its path.

    The training recipes call this at the end of a run (`write_model_card_hook`); `push_to_hub` calls it
    again with the repo id so the usage snippets name the repo.

    Args:
        output_dir: A folder written by `save_pretrained` (`config.json` + weights), usually a run's output.
        results: The run's record, as `results.json` holds it (`corpus`, `fold`, `fold_protocol`, `speakers`
            per split, `split_sizes`, `test` metrics, `global_step`, `best_validation`, ...). Default: read
            `output_dir/results.json`; without one the card says that nothing shows the model was trained.
        config: The training recipe as a nested dict (`RecipeConfig.to_dict()`). Default: read
            `output_dir/recipe.yaml` when present.
        evaluation: A cross-validation summary (`{"runs": [...], "summary": {metric: {mean, std, n, values}}}`
            as `av-emotion evaluate --output` writes it), as a dict or a path. Default: read
            `output_dir/evaluation.json` when present. Its means go into `model-index`; otherwise this run's
            test scores do.
        repo_id: The Hub repo the card is for; the usage snippets load it. Default: a placeholder path.
        model_name: Title and `model-index` name. Default: the repo name, else `<model_type>-<corpus>-fold<k>`.
        license: Licence id of the card. Default: the training corpus' licence where it restricts use
            (RAVDESS: cc-by-nc-sa-4.0, CREMA-D: odbl), else apache-2.0.
        remote_code: Whether the repo carries the standalone model code (adds the `trust_remote_code` snippet).
        template_path: A Jinja template to use instead of the shipped one for the architecture.
        plot_relations: Draw the learned relation matrix of a model that has one (`emotion_relation_matrix()`)
            into `output_dir/emotion_relation_matrix.png` and show it on the card.
        demo_space: The Space serving this model's web demo (`user/name`, as `av-emotion push --with-demo` makes
            it); the card links it. Without one the card gives the `av-emotion demo` command.
    """
    card = build_model_card(
        output_dir,
        results=results,
        config=config,
        evaluation=evaluation,
        repo_id=repo_id,
        model_name=model_name,
        license=license,
        remote_code=remote_code,
        template_path=template_path,
        plot_relations=plot_relations,
        demo_space=demo_space,
    )
    path = Path(output_dir) / CARD_FILE
    card.save(path)
    return path


__all__ = [
    "CARD_FILE",
    "CARD_MARKER",
    "EVALUATION_FILE",
    "MODEL_ID_PLACEHOLDER",
    "RELATION_MATRIX_FILE",
    "build_model_card",
    "plot_relation_matrix",
    "render_model_card",
    "template_path_for",
    "templates_dir",
]
