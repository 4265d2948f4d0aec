"""Recipe configuration: dataclasses mirroring the YAML files in `recipes/configs/`, and their loader.

A recipe YAML has one section per dataclass below (`model`, `processor`, `data`, `optimizer`,
`scheduler`, `augmentation`, `training`). Unknown keys are errors that list the valid ones, so a typo
never silently falls back to a default. `load_config(path, overrides=["training.seed=3", ...])` applies
dotted command-line overrides (values parsed as YAML) before validation.

Nothing here names an architecture: `model.model_type` selects one from the registry
(`av_emotion.modeling.ARCHITECTURES`) and `model.config` holds its config keyword arguments.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


@dataclass
class ModelSection:
    """Which architecture to build, and how.

    Attributes:
        model_type: A registered architecture (`av_metric_fusion`, `joint_cross_attention`, `avt_ca`, ...).
        head: `"classification"` (categorical emotions, labels from the corpus) or `"regression"`
            (valence/arousal, CCC).
        config: Keyword arguments of the architecture's config class (`AutoConfig.for_model`). `num_labels`,
            `id2label` and `label2id` are filled from the corpus' label set.
        pretrained: A local folder or Hub repo id to start from instead of random weights (then `config`
            is ignored except for the label fields). `av-emotion convert` writes such a folder from published
            backbone checkpoints.
        backbones: Published backbone checkpoints loaded into the freshly built model's encoders, by modality:
            `{"video": {"format": "efficientface", "checkpoint": "path.pth.tar"}}` (formats:
            `av_emotion.convert.BACKBONE_FORMATS`). A checkpoint that does not fit (missing, unexpected or
            mismatched keys) stops the run with the load report.
        freeze_encoders: Encoders to freeze (`"video"`, `"audio"`): weights fixed and batch-norm layers kept in
            evaluation mode, so their running statistics stay those of the pretrained backbone. They must come
            from `pretrained` or `backbones` (freezing random weights is refused).
        unfreeze_encoders_after_epochs: Train the frozen encoders from this epoch on (0-based count of frozen
            epochs); None keeps them frozen for the whole run.
        encoders: transformers checkpoints (path or Hub id) used as the architecture's encoders,
            `{"vision": ..., "audio": ...}` (either optional), through the model class's
            `from_encoders_pretrained` (AVT-CA); the processor then follows their preprocessing.
    """

    model_type: str = ""
    head: Literal["classification", "regression"] = "classification"
    config: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    backbones: dict[str, dict[str, str]] = field(default_factory=dict)
    freeze_encoders: list[str] = field(default_factory=list)
    unfreeze_encoders_after_epochs: int | None = None
    encoders: dict[str, str] = field(default_factory=dict)


@dataclass
class ProcessorSection:
    """The model's processor: the only place preprocessing happens.

    Attributes:
        preset: Name of an `AVEmotionProcessor` preset (the paper's input recipe, or `"synthetic"`,
            `"cpu_small"`).
        overrides: Keyword overrides of the preset's settings (for example `{"num_frames": 8}`).
        pretrained: Load a saved processor (folder or Hub id) instead of a preset.
        encoders: transformers checkpoints whose image processor / feature extractor settings override the
            preset (`AVEmotionProcessor.from_encoders`); defaults to `model.encoders`.
    """

    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    encoders: dict[str, str] = field(default_factory=dict)


@dataclass
class DataSection:
    """Corpus, split and preprocessing.

    Attributes:
        corpus: Builder name (`ravdess`, `cremad`, `synthetic`, `manifest`, ...).
        root: Corpus folder. May contain `{fold}`/`{seed}` placeholders.
        builder: Extra keyword arguments of the builder (e.g. `{"check_media": false}`).
        generate: Synthetic corpus only: `SyntheticCorpusConfig` arguments used to write the corpus into
            `root` when it does not exist yet.
        fold_protocol: A protocol of `av_emotion.data.folds.FOLD_PROTOCOLS`, or `"affwild2_official"` (the
            official Aff-Wild2 split, see `av_emotion.data.affwild2.official_split_fold`); when None the corpus'
            speakers are cut into `num_folds` sorted blocks (`speaker_independent_folds`).
        num_folds: Fold count when `fold_protocol` is None.
        fold: Which fold to train/evaluate (0-based).
        validation_speakers: Speakers carved from training for validation when the fold has none (0: no
            validation; then the last epoch's model is kept and early stopping is off).
        preprocessing: `"map"` runs the processor once over the corpus in `datasets.map` (cached on disk,
            `num_proc` workers); `"on_the_fly"` runs it in the collator on every batch (no cache; the way
            to get fresh random sampling from a processor that augments).
        num_proc: Worker processes for `"map"`.
        cache_dir: Folder of the `"map"` cache files (default: `<output_dir>/../.cache/preprocessed`).
        on_media_error: A clip that fails to decode during preprocessing is `"skip"`ped (listed in the
            run's report and log) or makes the run `"raise"`.
        label_column: Column holding the class index (classification).
        target_columns: Columns holding the regression targets, in output order.
        max_clips_per_split: Keep only the first N clips of each split (smoke tests, debugging).
        drop_modality: `"audio"` or `"video"`: that modality never reaches the model, in training, validation
            and test (the collator leaves it out), so the run trains and scores a single-modality model of the
            same architecture; None (default) feeds both.
        feature_cache: Frozen encoders (`model.freeze_encoders`) computed once: each clip's encoder outputs are
            written beside the `"map"` cache (keyed by a hash of the frozen encoders' weights and buffers, the model
            config and the preprocessing key) and the rest of the model trains, validates and tests from them
            (`av_emotion.training.feature_cache`). `"auto"` (default) caches every frozen encoder that can be
            cached and logs why any other is not (audio crops or SpecAugment masks, which change its input each
            epoch; dropout inside it; `"on_the_fly"` preprocessing; an architecture without precomputed encoder
            inputs); `"on"` raises for those instead; `"off"` always runs the encoders. A video flip is cached in
            both orientations. With `model.unfreeze_encoders_after_epochs` the
            cache serves the frozen epochs only, and the encoders run again from the epoch they unfreeze.
    """

    corpus: str = ""
    root: str = ""
    builder: dict[str, Any] = field(default_factory=dict)
    generate: dict[str, Any] | None = None
    fold_protocol: str | None = None
    num_folds: int = 5
    fold: int = 0
    validation_speakers: int = 0
    preprocessing: Literal["map", "on_the_fly"] = "map"
    num_proc: int = 1
    cache_dir: str | None = None
    on_media_error: Literal["skip", "raise"] = "skip"
    label_column: str = "label"
    target_columns: list[str] = field(default_factory=lambda: ["valence", "arousal"])
    max_clips_per_split: int | None = None
    drop_modality: Literal["audio", "video"] | None = None
    feature_cache: Literal["auto", "on", "off"] = "auto"


@dataclass
class OptimizerSection:
    """Optimizer: AdamW or SGD (`torch.optim`).

    Weight decay is not applied to biases and norm weights unless `decay_all_parameters` (torch's own
    default, and what Chumachenko et al. 2022's `opts.py` does). `dampening` (SGD only) scales each new
    gradient's share of the momentum buffer by `1 - dampening`, as `torch.optim.SGD` defines it.

    `encoder_lr` (None: `lr`) is the learning rate of the pretrained encoders (`av_emotion.modeling.encoders`);
    `lr` then applies to everything else (fusion, attention, heads). Both follow the same schedule.
    """

    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-3
    encoder_lr: float | None = None
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = False
    decay_all_parameters: bool = False


SCHEDULERS_STEPPED_BY_EPOCH = ("multistep", "reduce_on_plateau")
"""Schedules built here rather than by `transformers.get_scheduler`: see `SchedulerSection`."""


@dataclass
class SchedulerSection:
    """Learning-rate schedule.

    Names of `transformers.get_scheduler` (linear, cosine, constant_with_warmup, ...) change the rate every
    optimizer step, after `warmup_steps` (which wins) or `warmup_ratio` (a fraction of the total steps);
    `kwargs` go to it. Two more, without warm-up:

    - `multistep`: the rate is multiplied by `gamma` at the start of each epoch in `milestones` (epochs
      counted from 0, so `[40]` means from the 41st epoch on), as `torch.optim.lr_scheduler.MultiStepLR`
      stepped once per epoch.
    - `reduce_on_plateau`: `torch.optim.lr_scheduler.ReduceLROnPlateau`, stepped once per epoch with the
      validation `training.metric_for_best` (mode from `training.greater_is_better`); `kwargs` go to it
      (`factor`, `patience`, ...). Needs a validation split.
    """

    name: str = "cosine"
    warmup_steps: int | None = None
    warmup_ratio: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AugmentationSection:
    """Training-time augmentation of processed batches (off by default).

    Applied in the training loop with a generator seeded from (seed, step), so a resumed run draws the
    same augmentation as an uninterrupted one regardless of data-loader workers.

    Attributes:
        video_flip_prob: Probability of flipping a clip's frames left-right (faces are near-symmetric).
        freq_mask_param: Largest band of mel bins masked (SpecAugment, filled with the clip mean); 0 disables.
        time_mask_param: Largest span of audio frames masked (SpecAugment, filled with the clip mean); 0 disables.
        audio_crop_frames: Train on a random window of this many audio frames of each clip (a random crop, i.e. a
            time shift of the utterance; our choice for small speech corpora); evaluation sees the whole processed
            clip. The window starts inside the clip's valid frames (`audio_mask`); 0 disables.
    """

    video_flip_prob: float = 0.0
    freq_mask_param: int = 0
    time_mask_param: int = 0
    audio_crop_frames: int = 0


@dataclass
class TrainingSection:
    """The loop: length, batch, precision, evaluation, checkpoints, logging.

    Attributes:
        output_dir: Where the run writes; may contain `{fold}` and `{seed}`.
        seed: Seeds model initialisation, data order, dropout and augmentation.
        num_epochs: Passes over the training split (ignored when `max_steps` is set).
        max_steps: Total optimizer steps; the run stops when reached.
        per_device_train_batch_size / per_device_eval_batch_size: Clips per process per micro-batch.
        gradient_accumulation_steps: Micro-batches per optimizer step.
        max_grad_norm: Gradient clipping norm (None: no clipping).
        mixed_precision: `"no"`, `"bf16"` or `"fp16"` (fp16 needs a GPU), through Accelerate.
        dataloader_num_workers: Data-loader worker processes.
        metric_for_best: Validation metric that picks the best epoch (`uar`, `accuracy`, `macro_f1`, `ccc`,
            `loss`).
        greater_is_better: Direction of `metric_for_best`.
        early_stopping_patience: Stop after this many evaluations without improvement (None: never).
        checkpoint_every_steps: `save_state` every N optimizer steps (and at every epoch end); 0 disables
            both.
        keep_last_checkpoints: How many checkpoints to keep (oldest deleted first).
        log_every_steps: Tracker logging period in optimizer steps.
        report_to: Accelerate trackers (`"tensorboard"`, ...), `"auto"` (TensorBoard when installed) or
            `"none"`.
        push_to_hub: Repo id to push the final model to (handled by the Hub helpers when available).
    """

    output_dir: str = "runs/{model_type}_{corpus}/fold_{fold}"
    seed: int = 42
    num_epochs: int = 10
    max_steps: int | None = None
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    dataloader_num_workers: int = 0
    metric_for_best: str = "uar"
    greater_is_better: bool = True
    early_stopping_patience: int | None = None
    checkpoint_every_steps: int = 100
    keep_last_checkpoints: int = 2
    log_every_steps: int = 10
    report_to: str | list[str] = "auto"
    push_to_hub: str | None = None


@dataclass
class RecipeConfig:
    """A whole recipe: one field per YAML section."""

    model: ModelSection = field(default_factory=ModelSection)
    processor: ProcessorSection = field(default_factory=ProcessorSection)
    data: DataSection = field(default_factory=DataSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    scheduler: SchedulerSection = field(default_factory=SchedulerSection)
    augmentation: AugmentationSection = field(default_factory=AugmentationSection)
    training: TrainingSection = field(default_factory=TrainingSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-serializable)."""
        return _plain(dataclasses.asdict(self))

    def resolved_output_dir(self) -> Path:
        """`training.output_dir` with `{fold}`, `{seed}`, `{model_type}` and `{corpus}` filled in."""
        return Path(self.format_path(self.training.output_dir)).expanduser()

    def format_path(self, template: str) -> str:
        """Fill the `{fold}`, `{seed}`, `{model_type}`, `{corpus}` placeholders of a path template."""
        return template.format(
            fold=self.data.fold, seed=self.training.seed, model_type=self.model.model_type, corpus=self.data.corpus
        )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading `3e-3` as a float (YAML 1.2) rather than a string (YAML 1.1 needs `3.0e-3`)."""


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass


def _check_number(value: Any, annotation: str, where: str, key: str) -> Any:
    """Return `value` as the number its field's annotation asks for, or raise naming the key."""
    kinds = set(annotation.replace(" ", "").split("|"))
    if value is None and "None" in kinds:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {key} must be a number ({annotation}), got {value!r}")
    if "float" in kinds:
        return float(value)
    if not float(value).is_integer():
        raise ValueError(f"{where}: {key} must be a whole number, got {value!r}")
    return int(value)


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    kwargs = dict(values)
    # Numeric fields are checked here, so `lr: "1e-3"` fails naming the key, not deep inside the optimizer.
    for item in dataclasses.fields(cls):
        kinds = set(str(item.type).replace(" ", "").split("|"))
        if item.name in kwargs and kinds and kinds <= {"int", "float", "None"}:
            kwargs[item.name] = _check_number(kwargs[item.name], str(item.type), where, item.name)
    if kwargs.get("betas") is not None:  # YAML has no tuples
        kwargs["betas"] = tuple(kwargs["betas"])
    return cls(**kwargs)


_SECTION_TYPES = {
    "model": ModelSection,
    "processor": ProcessorSection,
    "data": DataSection,
    "optimizer": OptimizerSection,
    "scheduler": SchedulerSection,
    "augmentation": AugmentationSection,
    "training": TrainingSection,
}


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply `section.key=value` (or deeper `model.config.hidden_size=64`) overrides to a raw config dict.

    Values are parsed as YAML (`3` is an int, `[1, 2]` a list, `null` None).
    """
    raw = copy.deepcopy(raw)
    for override in overrides or []:
        if "=" not in override:
            raise ValueError(f"override {override!r} must look like section.key=value")
        dotted, text = override.split("=", 1)
        keys = dotted.strip().split(".")
        if len(keys) < 2 or keys[0] not in _SECTION_TYPES:
            raise ValueError(f"override {override!r}: the key must start with one of {sorted(_SECTION_TYPES)}")
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {override!r}: {key!r} is not a mapping")
        node[keys[-1]] = _load_yaml(text)
    return raw


def config_from_dict(raw: dict[str, Any], *, source: str = "config") -> RecipeConfig:
    """Validate a raw nested dict into a `RecipeConfig` (unknown sections or keys raise `ValueError`)."""
    raw = raw or {}
    unknown = sorted(set(raw) - set(_SECTION_TYPES))
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {unknown}; valid sections are {sorted(_SECTION_TYPES)}")
    sections = {
        name: _build_section(cls, raw.get(name) or {}, f"{source}: {name}") for name, cls in _SECTION_TYPES.items()
    }
    config = RecipeConfig(**sections)
    _validate(config, source)
    return config


def _validate(config: RecipeConfig, source: str) -> None:
    if not config.model.model_type and not config.model.pretrained:
        raise ValueError(f"{source}: model.model_type is required (or model.pretrained)")
    if not config.data.corpus:
        raise ValueError(f"{source}: data.corpus is required")
    if config.data.preprocessing not in ("map", "on_the_fly"):
        raise ValueError(
            f"{source}: data.preprocessing must be 'map' or 'on_the_fly', not {config.data.preprocessing!r}"
        )
    if config.data.drop_modality not in (None, "audio", "video"):
        raise ValueError(
            f"{source}: data.drop_modality must be null, 'audio' or 'video', not {config.data.drop_modality!r}"
        )
    if isinstance(config.data.feature_cache, bool):  # YAML 1.1 reads a bare on/off (or true/false) as a boolean
        config.data.feature_cache = "on" if config.data.feature_cache else "off"
    if config.data.feature_cache not in ("auto", "on", "off"):
        raise ValueError(
            f"{source}: data.feature_cache must be 'auto', 'on' or 'off', not {config.data.feature_cache!r}"
        )
    unknown = sorted(set(config.model.encoders) - {"vision", "audio"})
    if unknown:
        raise ValueError(f"{source}: model.encoders takes 'vision' and/or 'audio' checkpoints, got {unknown}")
    if config.model.encoders and not config.processor.encoders and not config.processor.pretrained:
        config.processor.encoders = dict(config.model.encoders)
    for modality, spec in config.model.backbones.items():
        if modality not in ("video", "audio") or not isinstance(spec, dict) or set(spec) != {"format", "checkpoint"}:
            raise ValueError(
                f"{source}: model.backbones.{modality} must be a 'video' or 'audio' entry with exactly "
                "`format` and `checkpoint`"
            )
    if config.model.backbones and config.model.pretrained:
        raise ValueError(f"{source}: model.backbones load into a fresh model; remove them or model.pretrained")
    unknown = sorted(set(config.model.freeze_encoders) - {"video", "audio"})
    if unknown:
        raise ValueError(f"{source}: model.freeze_encoders takes 'video' and/or 'audio', got {unknown}")
    untrained = sorted(set(config.model.freeze_encoders) - set(config.model.backbones))
    if untrained and not config.model.pretrained:
        raise ValueError(
            f"{source}: model.freeze_encoders freezes {untrained}, but nothing pretrained is loaded there; add "
            f"model.backbones.{untrained[0]} (a published checkpoint) or model.pretrained (a converted model)"
        )
    if config.model.unfreeze_encoders_after_epochs is not None and config.model.unfreeze_encoders_after_epochs < 0:
        raise ValueError(f"{source}: model.unfreeze_encoders_after_epochs must be >= 0 (or null)")
    if config.model.head not in ("classification", "regression"):
        raise ValueError(f"{source}: model.head must be 'classification' or 'regression'")
    if config.optimizer.name not in ("adamw", "sgd"):
        raise ValueError(f"{source}: optimizer.name must be 'adamw' or 'sgd', not {config.optimizer.name!r}")
    if config.optimizer.dampening and config.optimizer.name != "sgd":
        raise ValueError(f"{source}: optimizer.dampening applies to 'sgd' only, not {config.optimizer.name!r}")
    scheduler = config.scheduler
    if scheduler.name in SCHEDULERS_STEPPED_BY_EPOCH and (scheduler.warmup_steps or scheduler.warmup_ratio):
        raise ValueError(f"{source}: scheduler {scheduler.name!r} has no warm-up; remove warmup_steps / warmup_ratio")
    if scheduler.name == "multistep" and (
        not scheduler.milestones or sorted(set(scheduler.milestones)) != list(scheduler.milestones)
    ):
        raise ValueError(
            f"{source}: scheduler 'multistep' needs milestones, increasing epochs, e.g. [40, 55, 65, 70]; "
            f"got {scheduler.milestones}"
        )
    if config.training.mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(f"{source}: training.mixed_precision must be 'no', 'bf16' or 'fp16'")
    if config.training.gradient_accumulation_steps < 1:
        raise ValueError(f"{source}: training.gradient_accumulation_steps must be >= 1")
    if config.training.max_steps is None and config.training.num_epochs < 1:
        raise ValueError(f"{source}: set training.num_epochs >= 1 or training.max_steps")
    if config.data.fold < 0:
        raise ValueError(f"{source}: data.fold must be >= 0")


def load_config(path: str | Path, overrides: list[str] | None = None) -> RecipeConfig:
    """Load a recipe YAML, apply dotted overrides, and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe config {path} not found; the shipped ones are in recipes/configs/")
    raw = _load_yaml(path.read_text()) or {}
    return config_from_dict(apply_overrides(raw, overrides), source=str(path))


def save_config(config: RecipeConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (the run's record of what it did)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
