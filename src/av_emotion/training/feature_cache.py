"""Frozen encoders computed once: the recipes' feature cache (`data.feature_cache`).

A frozen encoder (`model.freeze_encoders`) has fixed weights and batch-norm statistics, so what it makes of a
clip is the same at every step of every epoch. Recomputing it on every step is where frozen-backbone training
spends its time (Praveen et al.'s JCA log: 8,455 s per training phase, for a fusion that is 1-5% of a step). Here
each frozen encoder runs once per clip, its outputs are stored beside the `"map"` preprocessing cache, and the rest
of the model trains, validates and tests from them: the model's forward takes `<modality>_encoder_outputs` and
`<modality>_encoder_mask` (what its base model's `encode_<modality>` returns) in place of that modality's input.

Which frozen encoders are cached (`plan_feature_cache`): not one whose input changes at random from epoch to
epoch (audio crops and SpecAugment masks), not one with active dropout inside, none with `"on_the_fly"`
preprocessing (the cache is built from the `"map"` cache), none for an architecture whose forward takes no
precomputed encoder outputs. A left-right flip (`augmentation.video_flip_prob`) has two outcomes only: the video
encoder's outputs are cached for both orientations (twice the one-off cost) and the augmentation's own draw picks
one per clip and step (`augment_batch`), as it would pick the pixels. `data.feature_cache: auto` logs the reason and runs that encoder as before; `on`
raises it. With `model.unfreeze_encoders_after_epochs` the cache serves the frozen epochs and the encoders run
again from the epoch they unfreeze (`FeatureCachedSplit.use_cache`).

The cache file, `<corpus>-encoder-outputs-<key>.arrow` beside `<corpus>-clips-<key>.arrow`, is keyed by the
preprocessing key (clip list and processor settings), a hash of the frozen encoders' state dicts (weights and
buffers), the model config (label fields aside: the encoders' wiring, sub-clip counts and sizes) and the mixed
precision the outputs were computed in: new encoder weights or processor settings never reuse stale outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from datasets.fingerprint import Hasher
from torch import nn

from av_emotion.data.collate import pad_processed
from av_emotion.modeling.encoders import encoder_modules
from av_emotion.training.augmentation import FLIPPED_VIDEO_OUTPUTS
from av_emotion.training.config import RecipeConfig
from av_emotion.training.data import ProcessedClips

# The batch entries each modality's `encode_<modality>(values, mask)` reads.
ENCODER_INPUTS: dict[str, tuple[str, str]] = {
    "video": ("pixel_values_videos", "video_mask"),
    "audio": ("input_features", "audio_mask"),
}
# The `"map"` cache columns a modality's encoder outputs replace (the presence flag is already in the mask).
REPLACED_COLUMNS: dict[str, tuple[str, ...]] = {
    "video": ("pixel_values_videos", "video_mask", "has_video"),
    "audio": ("input_features", "input_values", "audio_mask", "has_audio"),
}
# Augmentations (`AugmentationSection` fields) that change a modality's input at random from one epoch to the
# next, so that its encoder's outputs cannot be computed once. (`video_flip_prob` can: both orientations are cached.)
AUGMENTATIONS: dict[str, tuple[str, ...]] = {
    "video": (),
    "audio": ("audio_crop_frames", "freq_mask_param", "time_mask_param"),
}
# Model config fields that name the task, the head class or the source, not the encoders: changing them keeps the cache.
_LABEL_FIELDS = (
    "id2label",
    "label2id",
    "num_labels",
    "problem_type",
    "architectures",
    "_name_or_path",
    "transformers_version",
)
# Bump when the stored layout changes, so old files are not read as new ones.
_CACHE_FORMAT = 1


def outputs_column(modality: str) -> str:
    """Forward input (and cache column) holding `modality`'s precomputed encoder outputs."""
    return f"{modality}_encoder_outputs"


def mask_column(modality: str) -> str:
    """Forward input (and cache column) holding the per-step presence mask of those outputs."""
    return f"{modality}_encoder_mask"


@dataclass
class FeatureCachePlan:
    """Which frozen encoders a run computes once, and why the others are not.

    Attributes:
        modalities: Frozen encoders whose outputs are cached (`"video"`, `"audio"`).
        messages: One line per frozen encoder left to run every step, with the reason and the fix.
        until_epoch: The cache serves epochs before this one (`model.unfreeze_encoders_after_epochs`); None: all.
        video_flips: Also cache the video encoder's outputs of the flipped clips (`augmentation.video_flip_prob`).
    """

    modalities: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    until_epoch: int | None = None
    video_flips: bool = False

    def active(self, epoch: int) -> bool:
        """Whether epoch `epoch` (0-based) trains from the cache."""
        return bool(self.modalities) and (self.until_epoch is None or epoch < self.until_epoch)


def accepts_encoder_outputs(model: nn.Module, modality: str) -> bool:
    """Whether `model` can take precomputed `modality` encoder outputs (`encode_<modality>` + forward inputs)."""
    base = getattr(model, "base_model", model)
    parameters = inspect.signature(model.forward).parameters
    return callable(getattr(base, f"encode_{modality}", None)) and {
        outputs_column(modality),
        mask_column(modality),
    } <= set(parameters)


def _active_dropout(module: nn.Module) -> float:
    """Return the largest dropout probability inside `module` (0.0 when none)."""
    rates = [child.p for child in module.modules() if isinstance(child, nn.modules.dropout._DropoutNd)]
    return max(rates, default=0.0)


def plan_feature_cache(config: RecipeConfig, model: nn.Module) -> FeatureCachePlan:
    """Decide which frozen encoders of `model` the run computes once (see the module docstring).

    Raises:
        ValueError: `data.feature_cache: on` and a frozen encoder cannot be cached (or nothing is frozen); the
            message names the setting that prevents it.
    """
    mode = config.data.feature_cache
    frozen = list(dict.fromkeys(config.model.freeze_encoders))
    until = config.model.unfreeze_encoders_after_epochs
    if until == 0:  # unfrozen from the first epoch: nothing is ever frozen
        frozen = []
    if mode == "off":
        return FeatureCachePlan()
    if not frozen:
        if mode == "on":
            raise ValueError(
                "data.feature_cache: on caches frozen encoders, but none is frozen; set model.freeze_encoders "
                "(with pretrained encoders) or data.feature_cache: auto"
            )
        return FeatureCachePlan()
    plan = FeatureCachePlan(until_epoch=until)
    model_type = getattr(model.config, "model_type", type(model).__name__)
    encoders = encoder_modules(model)
    for modality in frozen:
        if config.data.drop_modality == modality:
            continue  # never reaches the model: nothing to compute, cached or not
        reason = None
        augmentations = [name for name in AUGMENTATIONS[modality] if getattr(config.augmentation, name)]
        if config.data.preprocessing != "map":
            reason = "data.preprocessing is on_the_fly (the cache is built from the 'map' preprocessing cache)"
        elif not accepts_encoder_outputs(model, modality):
            reason = f"{model_type} takes no precomputed {modality} encoder outputs"
        elif augmentations:
            settings = ", ".join(f"augmentation.{name}" for name in augmentations)
            reason = f"{settings} changes its input every epoch; set it to 0 to cache the {modality} encoder"
        elif modality in encoders and _active_dropout(encoders[modality]) > 0:
            reason = f"it applies dropout (p={_active_dropout(encoders[modality])}), so its outputs change every step"
        if reason is None:
            plan.modalities.append(modality)
            plan.video_flips = plan.video_flips or (modality == "video" and config.augmentation.video_flip_prob > 0)
        elif mode == "on":
            raise ValueError(
                f"data.feature_cache: on, but the frozen {modality} encoder cannot be computed once: {reason}. "
                "Use data.feature_cache: auto (run it every step) or remove what prevents caching"
            )
        else:
            plan.messages.append(f"feature cache: the frozen {modality} encoder runs every step: {reason}")
    return plan


def encoder_fingerprint(model: nn.Module, modalities: Sequence[str]) -> str:
    """SHA-256 of the state dicts (weights and buffers, names, shapes, dtypes) of `model`'s `modalities` encoders."""
    digest = hashlib.sha256()
    encoders = encoder_modules(model)
    for modality in sorted(modalities):
        digest.update(modality.encode())
        for name, tensor in sorted(encoders[modality].state_dict().items()):
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def feature_cache_key(
    preprocessing_key: str,
    model: nn.Module,
    modalities: Sequence[str],
    mixed_precision: str = "no",
    video_flips: bool = False,
) -> str:
    """Key of the cached encoder outputs (see the module docstring for what goes in)."""
    config = {key: value for key, value in model.config.to_dict().items() if key not in _LABEL_FIELDS}
    return Hasher.hash(
        [
            _CACHE_FORMAT,
            preprocessing_key,
            encoder_fingerprint(model, modalities),
            config,
            sorted(modalities),
            mixed_precision,
        ]
        + (["video_flips"] if video_flips else [])
    )


class _EncoderOutputs:
    """The `datasets.map` function: a batch of processed clips -> their encoder outputs, flat, with shapes."""

    def __init__(
        self,
        model: nn.Module,
        modalities: Sequence[str],
        device: torch.device,
        autocast: Callable,
        video_flips: bool = False,
    ):
        self.model = model
        self.modalities = list(modalities)
        self.device = device
        self.autocast = autocast
        self.video_flips = video_flips

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        inputs = pad_processed(rows)
        base = getattr(self.model, "base_model", self.model)
        outputs: dict[str, list] = {}
        with torch.no_grad(), self.autocast():
            for modality in self.modalities:
                values_name, mask_name = ENCODER_INPUTS[modality]
                mask = inputs.get(mask_name)
                values, steps = getattr(base, f"encode_{modality}")(
                    inputs[values_name].to(self.device), None if mask is None else mask.to(self.device)
                )
                self._store(outputs, outputs_column(modality), values)
                outputs[mask_column(modality)] = list(steps.bool().cpu().numpy())
                if modality == "video" and self.video_flips:
                    # Flipped along the width, as `augment_batch` flips pixel_values_videos (B, T, C, H, W).
                    flipped, _ = base.encode_video(
                        inputs[values_name].flip(-1).to(self.device), None if mask is None else mask.to(self.device)
                    )
                    self._store(outputs, FLIPPED_VIDEO_OUTPUTS, flipped)
        return outputs

    @staticmethod
    def _store(outputs: dict[str, list], name: str, values: torch.Tensor) -> None:
        values = values.float().cpu().numpy()
        outputs[name] = [clip.reshape(-1) for clip in values]
        outputs[f"{name}_shape"] = [list(clip.shape) for clip in values]


@contextlib.contextmanager
def _encoders_in_eval(model: nn.Module, modalities: Sequence[str]):
    """Put the encoders in evaluation mode (as frozen ones run), restoring every module's own mode afterwards."""
    encoders = encoder_modules(model)
    modes = [(module, module.training) for modality in modalities for module in encoders[modality].modules()]
    try:
        for modality in modalities:
            encoders[modality].eval()
        yield
    finally:
        for module, training in modes:
            module.training = training


def build_feature_cache(
    processed: ProcessedClips,
    model: nn.Module,
    plan: FeatureCachePlan,
    *,
    corpus: str,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    mixed_precision: str = "no",
    batch_size: int = 8,
    log: Callable[[str], None] = print,
) -> datasets.DatasetDict:
    """Compute (or load) the encoder outputs of every clip of `processed` and return the splits that read them.

    Args:
        processed: The `"map"` preprocessing cache (`PreparedData.processed`).
        model: The model, its frozen encoders holding the weights to use (on `device`).
        plan: `plan_feature_cache`'s decision; its `modalities` are cached.
        corpus: Corpus name, the cache file's prefix.
        device: Where the encoders run.
        autocast: Context of the run's mixed precision (`Accelerator.autocast`), so the outputs are those the
            encoders give in training.
        mixed_precision: The run's `training.mixed_precision` (part of the key).
        batch_size: Clips per encoder call.
        log: Progress lines.

    Returns:
        The splits of `processed`, in torch format, with `<modality>_encoder_outputs` (L, C) and
        `<modality>_encoder_mask` (L,) in place of the cached modalities' inputs and masks (and
        `video_encoder_outputs_flipped` with `plan.video_flips`).
    """
    modalities = list(plan.modalities)
    key = feature_cache_key(processed.key, model, modalities, mixed_precision, plan.video_flips)
    cache_file = processed.cache_dir / f"{corpus}-encoder-outputs-{key}.arrow"
    clips = processed.clips
    inputs = [
        column
        for modality in modalities
        for name in ENCODER_INPUTS[modality]
        for column in (name, f"{name}_shape")
        if column in clips.column_names
    ]
    reused = cache_file.is_file()
    started = time.perf_counter()
    with _encoders_in_eval(model, modalities):
        outputs = (
            clips.select_columns(inputs)
            .with_format("numpy")
            .map(
                _EncoderOutputs(model, modalities, torch.device(device), autocast, plan.video_flips),
                batched=True,
                batch_size=batch_size,
                remove_columns=inputs,
                cache_file_name=str(cache_file),
                load_from_cache_file=True,
                # The key says what the outputs depend on; without it `datasets` would hash the model (pickled).
                new_fingerprint=key,
                desc=f"encoder outputs ({', '.join(modalities)})",
            )
            .with_format(None)
        )
    if reused:
        log(f"feature cache: {', '.join(modalities)} encoder outputs of {len(clips)} clips read from {cache_file}")
    else:
        log(
            f"feature cache: {', '.join(modalities)} encoders run once over {len(clips)} clips in "
            f"{time.perf_counter() - started:.1f} s, outputs in {cache_file}"
        )
    replaced = {
        column
        for modality in modalities
        for name in REPLACED_COLUMNS[modality]
        for column in (name, f"{name}_shape")
        if column in clips.column_names
    }
    cached = datasets.concatenate_datasets([clips.remove_columns(sorted(replaced)), outputs], axis=1)
    columns = [column for column in processed.columns if column not in replaced] + list(outputs.column_names)
    return datasets.DatasetDict(
        {
            name: cached.select(rows).with_format("torch", columns=[*columns, "labels"], output_all_columns=False)
            for name, rows in processed.rows.items()
        }
    )


class FeatureCachedSplit(torch.utils.data.Dataset):
    """One split, read from the feature cache or from the preprocessing cache, switchable between epochs.

    The two hold the same clips in the same order, so a sampler (and a resumed run's position) means the same
    clips in both. `use_cache` is read when a batch is fetched; set it between epochs (data-loader workers are
    started afresh every epoch and take the current value). Other attributes (`column_names`, ...) are those of
    the split in use.
    """

    def __init__(self, raw: datasets.Dataset, cached: datasets.Dataset, use_cache: bool = True):
        if len(raw) != len(cached):
            raise ValueError(f"the feature cache has {len(cached)} clips for a split of {len(raw)}; delete it")
        self.raw = raw
        self.cached = cached
        self.use_cache = use_cache

    @property
    def active(self) -> datasets.Dataset:
        """The split batches are read from now."""
        return self.cached if self.use_cache else self.raw

    def __len__(self) -> int:
        """Clips in the split."""
        return len(self.raw)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One clip's row."""
        return self.active[index]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """Rows of a batch, read in one Arrow access (the `DataLoader` fast path of `datasets`)."""
        return self.active.__getitems__(indices)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("raw", "cached", "use_cache"):
            raise AttributeError(name)
        return getattr(self.active, name)


__all__ = [
    "AUGMENTATIONS",
    "ENCODER_INPUTS",
    "REPLACED_COLUMNS",
    "FeatureCachePlan",
    "FeatureCachedSplit",
    "accepts_encoder_outputs",
    "build_feature_cache",
    "encoder_fingerprint",
    "feature_cache_key",
    "mask_column",
    "outputs_column",
    "plan_feature_cache",
]
