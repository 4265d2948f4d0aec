"""From a recipe config to a model and its processor, without naming an architecture.

The architecture comes from the registry (`av_emotion.modeling.ARCHITECTURES`) by `model.model_type`; its
config class takes `model.config` as keyword arguments, and the head (classification or regression) is
built through the matching Auto class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transformers import AutoConfig, PreTrainedModel

from av_emotion.modeling import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
)
from av_emotion.training.config import ModelSection, ProcessorSection


def _label_kwargs(head: str, label_names: Sequence[str]) -> dict[str, Any]:
    if head == "classification":
        if not label_names:
            raise ValueError("a classification head needs the corpus' label names")
        id2label = {index: name for index, name in enumerate(label_names)}
        return {
            "num_labels": len(label_names),
            "id2label": id2label,
            "label2id": {name: index for index, name in id2label.items()},
        }
    names = list(label_names) or ["valence", "arousal"]
    return {
        "num_labels": len(names),
        "id2label": dict(enumerate(names)),
        "label2id": {name: index for index, name in enumerate(names)},
        "problem_type": "regression",
    }


def build_model(
    section: ModelSection, label_names: Sequence[str], *, log: Callable[[str], None] | None = None
) -> PreTrainedModel:
    """Build the model a recipe asks for.

    Args:
        section: The recipe's `model` section.
        label_names: Class names in index order (classification), or the regression target names.
        log: Receives the load report of each `section.backbones` checkpoint.

    Returns:
        A fresh model (`section.config` over the architecture's defaults, then the published `backbones` loaded
        into its encoders) or one loaded from `section.pretrained`, with `num_labels`, `id2label` and
        `label2id` set from `label_names`.

    Raises:
        ValueError: a backbone checkpoint does not fit (the message holds its load report).
    """
    auto_class = (
        AutoModelForAudioVideoClassification if section.head == "classification" else AutoModelForAudioVideoRegression
    )
    label_kwargs = _label_kwargs(section.head, label_names)
    if section.pretrained:
        return auto_class.from_pretrained(section.pretrained, ignore_mismatched_sizes=True, **label_kwargs)
    if section.model_type not in ARCHITECTURES:
        raise ValueError(
            f"model.model_type {section.model_type!r} is not a registered architecture; "
            f"registered: {sorted(ARCHITECTURES)}"
        )
    architecture = ARCHITECTURES[section.model_type]
    if section.head == "regression" and architecture.regression_class is None:
        raise ValueError(f"{section.model_type} has no regression head; use model.head: classification")
    clashing = sorted(set(section.config) & set(label_kwargs))
    if clashing:
        raise ValueError(f"model.config sets {clashing}; these come from the corpus' labels, remove them")
    if section.encoders:
        head_class = (
            architecture.classification_class if section.head == "classification" else architecture.regression_class
        )
        if not hasattr(head_class, "from_encoders_pretrained"):
            raise ValueError(f"model.encoders: {section.model_type} takes no transformers encoders (avt_ca does)")
        return head_class.from_encoders_pretrained(
            vision_encoder=section.encoders.get("vision"),
            audio_encoder=section.encoders.get("audio"),
            **section.config,
            **label_kwargs,
        )
    config = AutoConfig.for_model(section.model_type, **section.config, **label_kwargs)
    model = auto_class.from_config(config)
    if section.backbones:
        from av_emotion.convert.pretrained import load_backbone

        for modality, spec in section.backbones.items():
            try:
                report = load_backbone(model, modality, spec["format"], spec["checkpoint"])
            except FileNotFoundError as error:
                raise FileNotFoundError(
                    f"model.backbones.{modality}.checkpoint: {error}. Fetch it (README, 'Pretrained backbones'), or "
                    "pass model.backbones={} to train from scratch"
                ) from error
            if not report.ok:
                raise ValueError(f"model.backbones.{modality} does not fit the model:\n{report.to_table()}")
            if log:
                log(report.to_table())
    return model


def build_processor(section: ProcessorSection):
    """Build the processor a recipe asks for: a saved one (`pretrained`) or a named preset with overrides."""
    from av_emotion.processing import AVEmotionProcessor

    if section.pretrained:
        if section.overrides:
            raise ValueError("processor.overrides apply to a preset; a pretrained processor is used as saved")
        return AVEmotionProcessor.from_pretrained(section.pretrained)
    if not section.preset:
        raise ValueError("set processor.preset (e.g. 'synthetic', 'cpu_small') or processor.pretrained")
    if section.encoders:
        return AVEmotionProcessor.from_encoders(
            section.preset,
            vision_encoder=section.encoders.get("vision"),
            audio_encoder=section.encoders.get("audio"),
            **section.overrides,
        )
    return AVEmotionProcessor.from_preset(section.preset, **section.overrides)
