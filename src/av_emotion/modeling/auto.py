"""Auto classes for audio-video heads and the registry of architectures.

`transformers` has no Auto class for audio-video models, so av_emotion adds two, built exactly like the
library's own (`_BaseAutoModelClass` over a lazy mapping). Every architecture registers itself here
once, through `register_architecture`, and from then on it is reachable by name from configs, recipes,
the pipeline and the parametrized tests: nothing else in the package names an architecture.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForVideoClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES


class AutoModelForAudioVideoClassification(_BaseAutoModelClass):
    """Instantiates the categorical-emotion head of any registered av_emotion architecture."""

    _model_mapping = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())


class AutoModelForAudioVideoRegression(_BaseAutoModelClass):
    """Instantiates the dimensional (valence/arousal) head of any registered av_emotion architecture."""

    _model_mapping = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())


@dataclass(frozen=True)
class Architecture:
    """One registered architecture: its config, base model and heads."""

    model_type: str
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    classification_class: type[PreTrainedModel]
    regression_class: type[PreTrainedModel] | None = None


ARCHITECTURES: dict[str, Architecture] = {}


def register_architecture(
    config_class: type[PretrainedConfig],
    model_class: type[PreTrainedModel],
    classification_class: type[PreTrainedModel],
    regression_class: type[PreTrainedModel] | None = None,
) -> Architecture:
    """Register an architecture with every Auto class it belongs to (idempotent).

    Registers the config with `AutoConfig`, the base model with `AutoModel`, the classification head with
    `AutoModelForAudioVideoClassification` and `AutoModelForVideoClassification` (the nearest class
    `transformers` users already know), and the regression head, if any, with
    `AutoModelForAudioVideoRegression`, and the processor classes with `AutoProcessor`, `AutoVideoProcessor` and
    `AutoFeatureExtractor` for this config. Nothing here writes `auto_map`: `av_emotion.hub.push_to_hub`
    bundles the model code with the weights, so a pushed repository also loads with `trust_remote_code=True`
    where av_emotion is not installed (the processor and pipeline still need the package).
    """
    model_type = config_class.model_type
    if model_type in ARCHITECTURES:
        return ARCHITECTURES[model_type]
    AutoConfig.register(model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    AutoModelForAudioVideoClassification.register(config_class, classification_class, exist_ok=True)
    AutoModelForVideoClassification.register(config_class, classification_class, exist_ok=True)
    if regression_class is not None:
        AutoModelForAudioVideoRegression.register(config_class, regression_class, exist_ok=True)
    # The processor classes, so AutoProcessor / AutoVideoProcessor / AutoFeatureExtractor resolve through this
    # architecture's config.json too (imported here: processing does not depend on modeling).
    from av_emotion.processing.processor import register_processor_classes

    register_processor_classes(config_class)
    entry = Architecture(model_type, config_class, model_class, classification_class, regression_class)
    ARCHITECTURES[model_type] = entry
    return entry
