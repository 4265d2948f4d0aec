"""Dataset preparation for the recipes: corpus -> speaker-independent split -> processed examples.

`prepare_data` builds the corpus named in the config (writing the synthetic corpus first when asked),
splits it by the configured fold, and, in `"map"` mode, runs the model's processor once over every clip
with `datasets.map`, caching the result on disk under a key made of the clip list and the processor's
settings (a changed preset or override never reuses a stale cache). In `"on_the_fly"` mode the rows
keep their paths and the collator runs the processor per batch.

A clip that fails to decode during `map` is removed from its split and listed in
`PreparedData.skipped_media` (or raises, with `data.on_media_error: raise`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets.fingerprint import Hasher

from av_emotion.data.affwild2 import AFFWILD2_OFFICIAL_PROTOCOL, official_split_fold
from av_emotion.data.collate import DROPPED_INPUTS, media_error_types, process_clips
from av_emotion.data.corpus import BuildReport, CorpusBuild, build_corpus
from av_emotion.data.folds import Fold, get_fold, speaker_independent_folds, split_by_fold
from av_emotion.training.config import RecipeConfig

logger = logging.getLogger(__name__)

MEDIA_ERROR_COLUMN = "media_error"
# Raw columns kept beside the processed arrays (to trace predictions back to clips and speakers).
KEPT_COLUMNS = (
    "clip_id",
    "speaker",
    # Aff-Wild2 windows: what the per-video evaluation maps sub-clip predictions back to frames with.
    "video_id",
    "start_frame",
    "end_frame",
    "frame_index",
    "frame_valence",
    "frame_arousal",
)


@dataclass
class PreparedData:
    """What a recipe trains and evaluates on.

    Attributes:
        splits: `train`, `test` and (when the fold has one) `validation`; processed (`"map"`) or raw rows.
        label_names: Class names in index order, or the regression target names.
        fold: The speakers of each split.
        report: The corpus builder's report (files found, kept, skipped with reasons).
        skipped_media: `(path, reason)` of clips removed because the processor could not decode them.
        processed: `"map"` mode: the preprocessing cache the splits are drawn from (the feature cache of
            frozen encoders is built beside it, `av_emotion.training.feature_cache`); None `"on_the_fly"`.
    """

    splits: datasets.DatasetDict
    label_names: list[str]
    fold: Fold
    report: BuildReport
    skipped_media: list[tuple[str, str]] = field(default_factory=list)
    processed: ProcessedClips | None = None


@dataclass
class ProcessedClips:
    """The `"map"` preprocessing cache: every distinct clip of the splits, processed once.

    Attributes:
        clips: The processed clips that decoded (plain Python format), in the cache's fixed order.
        rows: Split name -> indices into `clips` (the split's clips, in split order).
        columns: The model-input columns of `clips` (arrays, their `<name>_shape` columns, flags) besides `labels`.
        key: The cache key (clip list and processor settings); the cache file is `<corpus>-clips-<key>.arrow`.
        cache_dir: The folder of the cache files.
    """

    clips: datasets.Dataset
    rows: dict[str, list[int]]
    columns: list[str]
    key: str
    cache_dir: Path


def resolve_fold(config: RecipeConfig, dataset: datasets.Dataset) -> Fold:
    """Return the fold the config asks for: a published protocol, or sorted speaker blocks of this corpus."""
    data = config.data
    if data.fold_protocol == AFFWILD2_OFFICIAL_PROTOCOL:
        if data.fold != 0:
            raise ValueError(f"data.fold_protocol {AFFWILD2_OFFICIAL_PROTOCOL} has one fold (0), not {data.fold}")
        return official_split_fold(dataset, data.validation_speakers)
    if data.fold_protocol:
        return get_fold(data.fold_protocol, data.fold, validation_speakers=data.validation_speakers)
    folds = speaker_independent_folds(dataset["speaker"], data.num_folds, validation_speakers=data.validation_speakers)
    if data.fold >= len(folds):
        raise ValueError(f"data.fold={data.fold} but only {len(folds)} folds (data.num_folds)")
    return folds[data.fold]


def ensure_synthetic_corpus(root: Path, generate: dict[str, Any], log: Callable[[str], None] = print) -> None:
    """Write the synthetic corpus into `root` (`SyntheticCorpusConfig(**generate)`) unless it is there already.

    A corpus already in `root` is used only if it was written with the same settings: a folder written by
    another recipe (say 6 actors where this one asks for 16) raises a `ValueError` naming the differences,
    instead of silently training on a corpus the recipe's folds were not made for.
    """
    from av_emotion.data.synthetic import SyntheticCorpusConfig, generate_corpus

    settings = dict(generate)
    num_workers = int(settings.pop("num_workers", 1))
    metadata = root / "metadata.jsonl"
    if metadata.is_file():
        wanted = asdict(SyntheticCorpusConfig(**settings))
        with metadata.open() as rows:
            first = rows.readline()
        written = json.loads(first).get("config", {}) if first.strip() else {}
        differences = {key: (written.get(key), value) for key, value in wanted.items() if written.get(key) != value}
        if differences:
            listed = ", ".join(f"{key}: {old!r} there, {new!r} asked" for key, (old, new) in differences.items())
            raise ValueError(
                f"{root} holds a synthetic corpus written with other settings ({listed}); pass data.generate=null "
                "to train on it as it is, point data.root at another folder, or delete this one so the recipe can "
                "write its own"
            )
        return
    log(f"writing the synthetic corpus into {root} ({settings})")
    generate_corpus(root, SyntheticCorpusConfig(**settings), num_workers=num_workers, overwrite=True)


def label_names_of(config: RecipeConfig, dataset: datasets.Dataset) -> list[str]:
    """Class names (from the label column's `ClassLabel`) or regression target names."""
    if config.model.head == "regression":
        missing = [column for column in config.data.target_columns if column not in dataset.column_names]
        if missing:
            raise ValueError(f"regression targets {missing} are not columns of the corpus ({dataset.column_names})")
        return list(config.data.target_columns)
    feature = dataset.features.get(config.data.label_column)
    if not isinstance(feature, datasets.ClassLabel):
        raise ValueError(
            f"column {config.data.label_column!r} of {config.data.corpus} is not a ClassLabel; "
            "a classification head needs class names"
        )
    return list(feature.names)


def prepare_data(
    config: RecipeConfig,
    processor: Any,
    *,
    main_process_first: Callable[[], contextlib.AbstractContextManager] | None = None,
    log: Callable[[str], None] = print,
    corpus: CorpusBuild | None = None,
) -> PreparedData:
    """Build, split and (in `"map"` mode) preprocess the corpus of `config` with `processor`.

    Args:
        config: The recipe.
        processor: The model's processor.
        main_process_first: `Accelerator.main_process_first` in multi-process runs, so one process writes
            the synthetic corpus and the preprocessing cache and the others read them.
        log: Where progress lines go.
        corpus: An already built corpus (`build_corpus_of(config)`), to split it again for another fold
            without scanning and probing the folder again.
    """
    first = main_process_first or contextlib.nullcontext
    data = config.data
    if corpus is None:
        with first():
            corpus = build_corpus_of(config, log=log)
    else:
        log(corpus.report.summary())
    dataset, report = corpus
    fold = resolve_fold(config, dataset)
    splits = split_by_fold(dataset, fold)
    if data.max_clips_per_split:
        splits = datasets.DatasetDict(
            {
                name: split.shuffle(seed=config.training.seed).select(range(min(data.max_clips_per_split, len(split))))
                for name, split in splits.items()
            }
        )
    label_names = label_names_of(config, dataset)
    sizes = ", ".join(f"{name} {len(split)} clips" for name, split in splits.items())
    log(f"fold {fold.index}: {sizes}; test speakers {list(fold.test)}, validation speakers {list(fold.validation)}")
    skipped: list[tuple[str, str]] = []
    processed = None
    if data.preprocessing == "map":
        cache_dir = Path(data.cache_dir or config.resolved_output_dir().parent / ".cache" / "preprocessed").expanduser()
        with first():
            processed, skipped = preprocess_with_map(
                splits,
                processor,
                config=config,
                cache_dir=cache_dir,
            )
        splits = processed_splits(processed)
        for path, reason in skipped:
            log(f"skipped during preprocessing: {path}: {reason}")
    return PreparedData(
        splits=splits, label_names=label_names, fold=fold, report=report, skipped_media=skipped, processed=processed
    )


def processed_splits(processed: ProcessedClips) -> datasets.DatasetDict:
    """Return the splits of the `"map"` cache as the training loop reads them (torch format, inputs and labels)."""
    return datasets.DatasetDict(
        {
            name: processed.clips.select(rows).with_format(
                "torch", columns=[*processed.columns, "labels"], output_all_columns=False
            )
            for name, rows in processed.rows.items()
        }
    )


def build_corpus_of(config: RecipeConfig, *, log: Callable[[str], None] = print) -> CorpusBuild:
    """Build the corpus a config names (writing the synthetic corpus first when `data.generate` asks)."""
    data = config.data
    root = Path(config.format_path(data.root)).expanduser()
    if data.generate is not None:
        if data.corpus != "synthetic":
            raise ValueError("data.generate only applies to data.corpus: synthetic")
        ensure_synthetic_corpus(root, data.generate, log)
    build = build_corpus(data.corpus, root, **data.builder)
    log(build.report.summary())
    return build


def _labels_of_row(row: dict[str, Any], config: RecipeConfig) -> Any:
    if config.model.head == "regression":
        values = [row[column] for column in config.data.target_columns]
        if isinstance(values[0], (list, tuple)):  # one value per sub-clip (Aff-Wild2): (L, D)
            return [[float(value) for value in step] for step in zip(*values)]
        return [float(value) for value in values]
    return int(row[config.data.label_column])


def shape_column(name: str) -> str:
    """Column holding the shape of the flattened array column `name` in the `"map"` cache."""
    return f"{name}_shape"


def _features_for(example: dict[str, Any], config: RecipeConfig, per_step_labels: bool = False) -> datasets.Features:
    """Arrow features of processed rows, from one processed example.

    Arrays are stored flat (`List(Value)`) beside their shape (`<name>_shape`): Arrow hands a flat list of
    floats to numpy without a copy through Python objects, where nested lists cost about 50 ms per clip of
    8 x 3 x 64 x 64 pixels. `AVEmotionCollator` reshapes them.
    """
    features = {}
    for key, value in example.items():
        dtype = "bool" if value.dtype.kind == "b" else "float32" if value.dtype.kind == "f" else "int64"
        if value.ndim == 0:
            features[key] = datasets.Value(dtype)
        else:
            features[key] = datasets.List(datasets.Value(dtype))
            features[shape_column(key)] = datasets.List(datasets.Value("int32"))
    if config.model.head != "regression":
        features["labels"] = datasets.Value("int64")
    elif per_step_labels:
        features["labels"] = datasets.List(datasets.List(datasets.Value("float32")))
    else:
        features["labels"] = datasets.List(datasets.Value("float32"))
    features[MEDIA_ERROR_COLUMN] = datasets.Value("string")
    return datasets.Features(features)


def _row_values(name: str, tensor: Any) -> dict[str, Any]:
    """One example's processed value for Arrow: a flat array and its shape, or a Python scalar (flags)."""
    array = tensor.numpy()
    if array.ndim == 0:
        return {name: array.item()}
    return {name: array.reshape(-1), shape_column(name): list(array.shape)}


class _RowProcessor:
    """The `datasets.map` function: one raw row -> processed arrays (picklable for `num_proc`)."""

    def __init__(self, processor: Any, config: RecipeConfig, input_names: list[str], columns: list[str]):
        self.processor = processor
        self.config = config
        self.input_names = input_names
        self.columns = columns

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        labels = _labels_of_row(row, self.config)
        try:
            outputs = process_clips(self.processor, [row])
        except media_error_types() as error:
            if self.config.data.on_media_error == "raise":
                raise
            return {**{name: None for name in self.columns}, "labels": labels, MEDIA_ERROR_COLUMN: str(error)}
        row = {"labels": labels, MEDIA_ERROR_COLUMN: None}
        for name in self.input_names:
            row.update(_row_values(name, outputs[name][0]))
        return row


def _clip_key(row: dict[str, Any]) -> tuple[str, str, float, float]:
    """Identify one clip to preprocess: its files, and its window when rows are windows of one video."""
    start, end = row.get("start_s"), row.get("end_s")
    return (
        row["video"] or "",
        row.get("audio") or "",
        -1.0 if start is None else float(start),
        -1.0 if end is None else float(end),
    )


def preprocess_with_map(
    splits: datasets.DatasetDict, processor: Any, *, config: RecipeConfig, cache_dir: Path
) -> tuple[ProcessedClips, list[tuple[str, str]]]:
    """Run `processor` over every clip with `datasets.map` (cached), dropping and listing undecodable clips.

    Returns the processed clips (`processed_splits` gives the splits the loop reads) and the `(path, reason)`
    of the clips that did not decode.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    processor_key = Hasher.hash(processor.to_json_string() if hasattr(processor, "to_json_string") else repr(processor))
    # The arrays' names, ranks and dtypes, from the first clip that decodes.
    probe_rows = splits["train"]
    example = None
    for index in range(len(probe_rows)):
        try:
            outputs = process_clips(processor, [probe_rows[index]])
        except media_error_types():
            continue
        # A modality the recipe drops (`data.drop_modality`) never reaches the model: not caching it keeps
        # audio-only corpora from storing all-zero frames (about 400 kB a clip at 8 x 3 x 64 x 64).
        dropped = DROPPED_INPUTS.get(config.data.drop_modality or "", ())
        example = {key: value[0].numpy() for key, value in outputs.items() if key not in dropped}
        break
    if example is None:
        raise ValueError("no training clip could be processed; check the corpus and the processor settings")
    first_target = splits["train"].features.get(config.data.target_columns[0]) if config.data.target_columns else None
    per_step = config.model.head == "regression" and isinstance(first_target, (datasets.List, datasets.Sequence))
    features = _features_for(example, config, per_step_labels=per_step)
    input_names = list(example)
    columns = [name for name in features if name not in ("labels", MEDIA_ERROR_COLUMN)]
    function = _RowProcessor(processor, config, input_names, columns)
    # One cache for the clips of every split, in a fixed (sorted) order: each fold of a protocol splits the same
    # clips differently, so every fold (and every recipe with the same processor) reuses one preprocessing pass.
    union = datasets.concatenate_datasets(list(splits.values()))
    clip_keys = [_clip_key(row) for row in union]
    ordered = sorted(range(len(union)), key=lambda index: clip_keys[index])
    distinct: list[int] = []
    position: dict[tuple[str, str], int] = {}
    for index in ordered:
        if clip_keys[index] not in position:
            position[clip_keys[index]] = len(distinct)
            distinct.append(index)
    union = union.select(distinct)
    # Plain lists: `Dataset[column]` is a lazy `Column` whose hash depends on how the rows were selected.
    identity = Hasher.hash([[_clip_key(row) for row in union], [_labels_of_row(row, config) for row in union]])
    # Caches written before a modality was dropped keep their key (nothing dropped: the key of old).
    key_parts = [identity, processor_key] + ([sorted(input_names)] if config.data.drop_modality else [])
    key = Hasher.hash(key_parts)
    cache_file = cache_dir / f"{config.data.corpus}-clips-{key}.arrow"
    kept = [column for column in KEPT_COLUMNS if column in union.column_names]
    mapped = union.map(
        function,
        features=datasets.Features({**{column: union.features[column] for column in kept}, **features}),
        remove_columns=[column for column in union.column_names if column not in kept],
        num_proc=config.data.num_proc if config.data.num_proc > 1 else None,
        cache_file_name=str(cache_file),
        load_from_cache_file=True,
        desc="preprocessing",
    )
    errors = mapped[MEDIA_ERROR_COLUMN]
    skipped: list[tuple[str, str]] = [
        (union[index]["video"] or union[index]["audio"], error)
        for index, error in enumerate(errors)
        if error is not None
    ]
    decoded = [index for index, error in enumerate(errors) if error is None]
    # Row indices of the clips that decoded, in the order of `decoded`.
    renumbered = {index: position for position, index in enumerate(decoded)}
    clips = mapped.remove_columns([MEDIA_ERROR_COLUMN])
    if len(decoded) < len(errors):
        clips = clips.select(decoded)
    rows = {
        name: [renumbered[row] for row in (position[_clip_key(clip)] for clip in split) if row in renumbered]
        for name, split in splits.items()
    }
    return ProcessedClips(clips=clips, rows=rows, columns=columns, key=key, cache_dir=cache_dir), skipped
