"""The training and evaluation loops behind `recipes/train.py`, with Accelerate.

`train(config)` runs one recipe from a corpus folder to a saved model:

1. builds the processor and the model from the config (`factory`), and the fold's splits (`data`); frozen
   encoders run once over every clip and the splits read their outputs while they stay frozen
   (`feature_cache`, `data.feature_cache`);
2. trains with AdamW or SGD, a warm-up schedule from `transformers.get_scheduler`, gradient
   accumulation and clipping, mixed precision, on one or many processes (`accelerate launch`);
3. evaluates on the validation speakers after every epoch, keeps the best epoch's weights by
   `metric_for_best`, and stops early after `early_stopping_patience` evaluations without improvement;
4. checkpoints every `checkpoint_every_steps` optimizer steps and at every epoch end, atomically
   (`checkpointing`); `resume=True` continues from the last checkpoint (data position, RNG, optimizer,
   scheduler and loop state) to the same weights an uninterrupted run reaches;
5. evaluates the kept weights on the test speakers and writes `save_pretrained` weights (safetensors)
   and processor, `results.json`, `confusion_matrix.png` and (through the hook) the model card.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, send_to_device, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from av_emotion.data.collate import AVEmotionCollator
from av_emotion.metrics import load_metric
from av_emotion.training.augmentation import augment_batch, augmentation_generator, is_active
from av_emotion.training.checkpointing import (
    TEMP_PREFIX,
    TrainerState,
    atomic_publish,
    latest_checkpoint,
    link_or_copy_tree,
    list_checkpoints,
    save_checkpoint,
)
from av_emotion.training.config import OptimizerSection, RecipeConfig, SchedulerSection, save_config
from av_emotion.training.data import PreparedData, prepare_data
from av_emotion.training.factory import build_model, build_processor
from av_emotion.training.feature_cache import (
    FeatureCachedSplit,
    FeatureCachePlan,
    build_feature_cache,
    plan_feature_cache,
)
from av_emotion.training.freezing import EncoderFreezer, split_encoder_parameters
from av_emotion.training.reporting import (
    CONFUSION_MATRIX_FILE,
    plot_confusion_matrix,
    write_model_card_hook,
    write_results,
)

CHECKPOINTS_DIR = "checkpoints"
BEST_MODEL_DIR = "best_model"


@dataclass
class EvalResult:
    """Metrics of one evaluation pass, with the gathered predictions and references.

    Attributes:
        metrics: `loss` plus `accuracy`, `uar`, `macro_f1`, `confusion_matrix` (classification) or
            `ccc`, `ccc_<target>` (regression).
        predictions: (N,) predicted class indices, or (N, D) regression outputs.
        references: (N,) class indices, or (N, D) targets.
    """

    metrics: dict[str, Any]
    predictions: np.ndarray
    references: np.ndarray


@dataclass
class TrainResult:
    """What `train` returns: where the model went and its numbers."""

    output_dir: Path
    test_metrics: dict[str, Any]
    best_metric: float | None
    state: TrainerState


# ---------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------


def build_optimizer(
    model: torch.nn.Module, section: OptimizerSection, *, encoder_modalities: list[str] | None = None
) -> torch.optim.Optimizer:
    """AdamW or SGD.

    Biases and 1-D parameters (norm scales) get no weight decay (our choice, as in BERT) unless
    `section.decay_all_parameters`, which decays every parameter (torch's default; Chumachenko et al. 2022).
    With `section.encoder_lr` set, the parameters of the pretrained encoders (`av_emotion.modeling.encoders`,
    limited to `encoder_modalities` when given) get that learning rate and the rest (fusion, heads) `section.lr`.
    Groups carry a `name`: `"decay"`, `"no_decay"` (the rest, first), then `"encoders/decay"`,
    `"encoders/no_decay"`; empty groups are left out, and so are parameters with `requires_grad=False`.
    """
    if section.encoder_lr is not None:
        encoder, rest = split_encoder_parameters(model, encoder_modalities)
        if not encoder:
            raise ValueError(
                f"optimizer.encoder_lr is set but {getattr(model.config, 'model_type', type(model).__name__)} "
                "declares no pretrained encoders (av_emotion.modeling.encoders)"
            )
    else:
        encoder, rest = [], list(model.named_parameters())
    groups = []
    for prefix, named, lr in (("", rest, section.lr), ("encoders/", encoder, section.encoder_lr)):
        decay, no_decay = [], []
        for name, parameter in named:
            if not parameter.requires_grad:
                continue
            exempt = not section.decay_all_parameters and (parameter.ndim <= 1 or name.endswith(".bias"))
            (no_decay if exempt else decay).append(parameter)
        groups += [
            {"name": f"{prefix}decay", "params": decay, "weight_decay": section.weight_decay, "lr": lr},
            {"name": f"{prefix}no_decay", "params": no_decay, "weight_decay": 0.0, "lr": lr},
        ]
    groups = [group for group in groups if group["params"]]
    if section.name == "adamw":
        return torch.optim.AdamW(groups, lr=section.lr, betas=tuple(section.betas), eps=section.eps)
    return torch.optim.SGD(
        groups, lr=section.lr, momentum=section.momentum, dampening=section.dampening, nesterov=section.nesterov
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    section: SchedulerSection,
    *,
    total_steps: int,
    warmup_steps: int,
    num_processes: int = 1,
    greater_is_better: bool = True,
):
    """Build the learning-rate schedule of `section`; returns `(scheduler, stepped_by_epoch)`.

    Per-step schedules come from `transformers.get_scheduler` (its step counts are multiplied by
    `num_processes`: Accelerate steps a prepared scheduler once per process per optimizer step). The
    `SCHEDULERS_STEPPED_BY_EPOCH` are stepped by the loop once per epoch, unprepared: `multistep` with
    `step()`, `reduce_on_plateau` with `step(validation_metric)`.
    """
    if section.name == "multistep":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(section.milestones), gamma=section.gamma
        )
        return scheduler, True
    if section.name == "reduce_on_plateau":
        mode = "max" if greater_is_better else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, **(section.kwargs or {})), True
    scheduler = get_scheduler(
        section.name,
        optimizer,
        num_warmup_steps=warmup_steps * num_processes,
        num_training_steps=total_steps * num_processes,
        scheduler_specific_kwargs=section.kwargs or None,
    )
    return scheduler, False


def model_input_names(model: torch.nn.Module) -> set[str]:
    """Names the model's `forward` accepts (batches are filtered to them)."""
    return set(inspect.signature(model.forward).parameters)


def select_inputs(batch: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """Keep the entries of `batch` that `forward` accepts."""
    return {key: value for key, value in batch.items() if key in names}


def resolve_trackers(report_to: str | list[str]) -> list[str] | None:
    """Accelerate tracker names from `training.report_to` (`"auto"`: TensorBoard when installed)."""
    if report_to in ("none", None, [], "no"):
        return None
    if report_to == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                return None
        return ["tensorboard"]
    return [report_to] if isinstance(report_to, str) else list(report_to)


def flatten_for_tracker(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested config to scalar hyper-parameters (TensorBoard's hparams accept no lists or None)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_for_tracker(value, f"{name}/"))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def is_improvement(value: float, best: float | None, greater_is_better: bool) -> bool:
    """Whether `value` beats `best` (strictly)."""
    if best is None:
        return True
    return value > best if greater_is_better else value < best


# ---------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------


@functools.cache
def _metric(name: str, config_name: str | None = None) -> Any:
    # Loading a metric module hashes and imports its script; once per process is enough (compute() resets it).
    return load_metric(name, config_name)


def evaluation_batches(
    num_clips: int, batch_size: int, num_processes: int = 1, process_index: int = 0
) -> list[tuple[int | None, list[int]]]:
    """List the batches one process evaluates, as `(batch_id, clip_indices)` pairs in the order it runs them.

    The clips are cut into consecutive batches of `batch_size`, as one process reads them unshuffled, and the
    batches are dealt round-robin: process `p` gets batches `p`, `p + num_processes`, ... Every process runs
    the same number of batches, so forwards that are collective (FSDP gathers its weights in each one) stay
    in step: a process left without a batch in the last round runs batch 0 again with `batch_id=None`, and
    its outputs are dropped. Unlike Accelerate's `even_batches` padding (which tops up the last batch with
    clips from the start, for `gather_for_metrics` to cut off again), no batch holds a clip twice, so a
    batch-level loss is that of the one-process batch, and every clip is scored exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= process_index < num_processes:
        raise ValueError(f"process_index {process_index} is not in [0, {num_processes})")
    batches = [list(range(start, min(start + batch_size, num_clips))) for start in range(0, num_clips, batch_size)]
    rounds = math.ceil(len(batches) / num_processes)
    mine: list[tuple[int | None, list[int]]] = []
    for round_index in range(rounds):
        batch_id = round_index * num_processes + process_index
        mine.append((batch_id, batches[batch_id]) if batch_id < len(batches) else (None, batches[0]))
    return mine


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    dataloader: DataLoader,
    accelerator: Accelerator,
    *,
    label_names: list[str],
    head: str = "classification",
    desc: str = "eval",
) -> EvalResult:
    """Run `model` over the clips of `dataloader`, shared among the processes, and score all of them.

    `dataloader` gives the dataset, batch size, collator and workers; it is read in dataset order (not
    shuffled) and need not be prepared by Accelerate. Each process runs its share of the batches
    (`evaluation_batches`); the outputs are gathered and put back in dataset order, so the metrics are those
    of a one-process evaluation of the same weights, each clip counted once. Classification scores come from
    the packaged `emotion_classification` metric, regression ones from `ccc` (one value per target plus their
    mean). `loss` is the mean per-clip loss: each batch's loss weighted by its number of clips.
    """
    dataset = dataloader.dataset
    batch_size = dataloader.batch_size or getattr(dataloader.batch_sampler, "batch_size", None)
    if batch_size is None:
        raise ValueError("evaluate_model needs a DataLoader built with a batch_size (see build_dataloader)")
    if len(dataset) == 0:
        raise ValueError(f"{desc}: the split holds no clips; check the fold's speakers and data.root")
    rounds = evaluation_batches(len(dataset), batch_size, accelerator.num_processes, accelerator.process_index)
    loader = DataLoader(
        dataset,
        batch_sampler=[indices for _, indices in rounds],
        collate_fn=dataloader.collate_fn,
        num_workers=dataloader.num_workers,
        # A generator of its own: starting the iterator draws from it, not from the training RNG streams.
        generator=torch.Generator().manual_seed(0),
    )
    was_training = model.training
    model.eval()
    names = model_input_names(accelerator.unwrap_model(model))
    clip_ids, all_outputs, all_labels = [], [], []
    batch_ids, loss_sums, sizes = [], [], []
    progress = tqdm(loader, desc=desc, leave=False, disable=not accelerator.is_local_main_process)
    for (batch_id, indices), batch in zip(rounds, progress):
        batch = send_to_device(batch, accelerator.device)
        outputs = model(**select_inputs(batch, names))
        # Per-sub-clip labels (B, L, D) are scored against the per-sub-clip outputs.
        per_step = batch["labels"].ndim == 3 and getattr(outputs, "step_logits", None) is not None
        scored = outputs.step_logits if per_step else outputs.logits
        # A repeat that keeps the processes in step adds no rows (zero of them, so the shapes still gather).
        kept = len(indices) if batch_id is not None else 0
        clip_ids.append(torch.tensor(indices[:kept], dtype=torch.long))
        all_outputs.append(scored.detach().float().cpu()[:kept])
        all_labels.append(batch["labels"].cpu()[:kept])
        if outputs.loss is not None and batch_id is not None:
            batch_ids.append(batch_id)
            loss_sums.append(outputs.loss.detach().float().cpu() * len(indices))
            sizes.append(len(indices))
    clip_ids, outputs_tensor, labels_tensor = _gather_in_dataset_order(
        accelerator, clip_ids, all_outputs, all_labels, num_clips=len(dataset)
    )
    batch_ids, loss_sums, sizes = _gather_in_dataset_order(
        accelerator,
        [torch.tensor(batch_ids, dtype=torch.long)],
        [torch.stack(loss_sums) if loss_sums else torch.zeros(0)],
        [torch.tensor(sizes, dtype=torch.long)],
    )
    if was_training:
        model.train()
    outputs_array = outputs_tensor.numpy()
    references = labels_tensor.numpy()
    # Summed in batch order, as one process sums them.
    loss = sum(loss_sums.tolist()) / sum(sizes.tolist()) if len(sizes) else float("nan")
    metrics: dict[str, Any] = {"loss": float(loss)}
    if head == "regression":
        predictions = outputs_array
        # Sub-clips (or clips) without an annotation (NaN) are left out of the CCC.
        flat_predictions = predictions.reshape(-1, predictions.shape[-1])
        flat_references = references.reshape(-1, references.shape[-1])
        annotated = ~np.isnan(flat_references).any(axis=-1)
        scores = _metric("ccc", "multioutput").compute(
            predictions=flat_predictions[annotated].tolist(),
            references=flat_references[annotated].tolist(),
            names=label_names,
        )
        metrics.update(scores)
        metrics.update(_per_video_scores(predictions, getattr(dataloader, "dataset", None)))
    else:
        predictions = outputs_array.argmax(axis=-1)
        scores = _metric("emotion_classification").compute(
            predictions=predictions.tolist(), references=references.tolist(), num_labels=len(label_names)
        )
        metrics.update(scores)
    return EvalResult(metrics=metrics, predictions=predictions, references=references)


def _gather_in_dataset_order(
    accelerator: Accelerator,
    ids: list[torch.Tensor],
    values: list[torch.Tensor],
    more_values: list[torch.Tensor],
    *,
    num_clips: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather rows keyed by `ids` from every process and sort them by id (on CPU).

    `ids` (N,) long, `values` and `more_values` (N, ...) are this process' rows, in pieces to concatenate.
    Processes may hold different numbers of rows: they are padded to the longest (id -1) for the collective
    gather, and the padding is dropped. With `num_clips`, checks that the ids are exactly `0..num_clips-1`.
    """
    local = [torch.cat(pieces) if pieces else torch.zeros(0) for pieces in (ids, values, more_values)]
    local[0] = local[0].long()
    if accelerator.num_processes > 1:
        gathered = []
        for index, tensor in enumerate(local):
            tensor = accelerator.pad_across_processes(
                tensor.to(accelerator.device), dim=0, pad_index=-1 if index == 0 else 0
            )
            gathered.append(accelerator.gather(tensor).cpu())
        local = gathered
    keep = local[0] >= 0
    order = torch.argsort(local[0][keep], stable=True)
    ids_sorted, first, second = (tensor[keep][order] for tensor in local)
    if num_clips is not None and not torch.equal(ids_sorted, torch.arange(num_clips)):
        raise RuntimeError(
            f"evaluation scored {len(ids_sorted)} clip(s) for a split of {num_clips}: each clip must be scored once"
        )
    return ids_sorted, first, second


PER_VIDEO_COLUMNS = ("video_id", "start_frame", "end_frame", "frame_index", "frame_valence", "frame_arousal")


def _per_video_scores(predictions: np.ndarray, dataset: Any) -> dict[str, float]:
    """Per-video CCC (Praveen et al. 2022's protocol) when the rows are windows of videos (Aff-Wild2).

    Needs per-sub-clip predictions (N, L, 2) in dataset order (evaluation loaders do not shuffle) and the
    rows' `PER_VIDEO_COLUMNS`; returns `per_video_ccc_valence`, `per_video_ccc_arousal`, `per_video_ccc`, or
    nothing for other corpora.
    """
    columns = getattr(dataset, "column_names", None) or []
    if predictions.ndim != 3 or not all(column in columns for column in PER_VIDEO_COLUMNS):
        return {}
    from av_emotion.data.affwild2 import affwild2_per_video_ccc

    rows = dataset.with_format(None).select_columns(list(PER_VIDEO_COLUMNS))
    scores = affwild2_per_video_ccc(predictions, rows)
    return {
        "per_video_ccc_valence": scores["ccc_valence"],
        "per_video_ccc_arousal": scores["ccc_arousal"],
        "per_video_ccc": scores["ccc_mean"],
    }


def scalar_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """Return the scalar entries of `metrics`, prefixed (for trackers and log lines)."""
    return {f"{prefix}/{key}": float(value) for key, value in metrics.items() if isinstance(value, (int, float))}


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------


def build_dataloader(
    dataset: Any, batch_size: int, *, shuffle: bool, collator: Any, workers: int, seed: int
) -> DataLoader:
    """Build a `DataLoader` with its own seeded generator.

    Creating an iterator draws its base seed from that generator, not from the global RNG, so evaluating
    or resuming does not shift the dropout stream of training.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collator,
        num_workers=workers,
        generator=generator,
        persistent_workers=False,
    )


CPU_LAUNCH = "accelerate launch --multi_gpu --num_processes N recipes/train.py ..."


def launched_without_accelerator(environ: Mapping[str, str]) -> bool:
    """Whether a launcher started several processes (`WORLD_SIZE` > 1) on a machine without a GPU.

    `accelerate launch --multi_gpu` starts them through torchrun, but Accelerate then picks its CPU backend
    (gloo) only when told to use the CPU (`ACCELERATE_USE_CPU=true`), and otherwise runs every process alone.
    Without any accelerator the CPU is the only choice, so `train` asks for it.
    """
    world_size = int(environ.get("WORLD_SIZE", "1") or 1)
    return world_size > 1 and not torch.accelerator.is_available()


def check_launch(num_processes: int, environ: Mapping[str, str]) -> str | None:
    """Catch a launch that got fewer processes than it asked for; returns a warning line or None.

    Raises `RuntimeError` when a launcher started `WORLD_SIZE` > 1 processes but Accelerate runs each of them
    alone (every one would train on all the data and write the same output folder). Warns for
    `accelerate launch --cpu --num_processes N`, which starts one process (Accelerate starts several CPU
    processes only through mpirun, `--mpirun_hostfile`): that launch sets `MASTER_ADDR` but no `WORLD_SIZE`.
    """
    world_size = int(environ.get("WORLD_SIZE", "1") or 1)
    if world_size > 1 and num_processes == 1:
        raise RuntimeError(
            f"the launcher started {world_size} processes (WORLD_SIZE={world_size}) but Accelerate runs each of "
            "them alone, so every one would train on all the data and write the same output folder. On CPUs: "
            f"ACCELERATE_USE_CPU=true {CPU_LAUNCH}"
        )
    cpu_launch = environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if num_processes == 1 and cpu_launch and "MASTER_ADDR" in environ and "WORLD_SIZE" not in environ:
        return (
            "warning: this run has one process. `accelerate launch --cpu --num_processes N` starts a single "
            f"process (several CPU processes need mpirun); for N processes on CPUs: {CPU_LAUNCH} (without a GPU, "
            "or with ACCELERATE_USE_CPU=true)"
        )
    return None


def check_resume_processes(checkpoint: Path, num_processes: int) -> None:
    """Refuse to resume `checkpoint` on another number of processes than the one that saved it.

    Each process saved its own RNG state (`random_states_<rank>.pkl`) and read its own share of the data; on
    another number of processes the run could not continue as it would have.
    """
    saved = len(list(Path(checkpoint).glob("random_states_*.pkl")))
    if saved and saved != num_processes:
        raise ValueError(
            f"{checkpoint} was saved by a run on {saved} process(es) and this run has {num_processes}: resume it "
            f"with the same launch (accelerate launch --num_processes {saved} ...), or start a new run"
        )


def make_accelerator(**kwargs: Any) -> Accelerator:
    """Make an `Accelerator` that runs on the CPU when a launcher started several processes on a machine without a GPU.

    Raises `RuntimeError` (`check_launch`) when the processes would each run alone; `kwargs` go to `Accelerator`.
    """
    accelerator = Accelerator(cpu=launched_without_accelerator(os.environ), **kwargs)
    check_launch(accelerator.num_processes, os.environ)
    return accelerator


def train(
    config: RecipeConfig,
    *,
    resume: bool | str = False,
    log: Callable[[str], None] | None = None,
    trackers: list[Any] | None = None,
) -> TrainResult:
    """Run the recipe `config` (see the module docstring) and return where the model went and its scores.

    Args:
        config: The recipe.
        resume: `True` continues from the newest checkpoint in `<output_dir>/checkpoints` (starting from
            scratch when there is none), a path continues from that checkpoint, `False` starts fresh and
            refuses an output folder that already holds checkpoints.
        log: Receives progress lines (default: printed above the progress bar, on the main process only).
        trackers: Accelerate tracker instances (`accelerate.tracking.GeneralTracker`) that receive the run's
            metrics besides those of `training.report_to` (benchmarks record the per-step loss with one).
    """
    training = config.training
    output_dir = config.resolved_output_dir()
    checkpoints_dir = output_dir / CHECKPOINTS_DIR
    trackers = (resolve_trackers(training.report_to) or []) + list(trackers or [])
    accelerator = make_accelerator(
        mixed_precision=training.mixed_precision,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=training.seed),
    )
    say = log or _main_process_printer(accelerator)
    warning = check_launch(accelerator.num_processes, os.environ)
    if warning:
        say(warning)

    # Resume target, decided before anything is written.
    checkpoint: Path | None = None
    if resume:
        checkpoint = Path(resume) if isinstance(resume, (str, Path)) and not isinstance(resume, bool) else None
        if checkpoint is None:
            checkpoint = latest_checkpoint(checkpoints_dir)
            if checkpoint is None:
                say(f"no checkpoint in {checkpoints_dir}; starting from scratch")
        elif not checkpoint.is_dir():
            raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
        if checkpoint is not None:
            check_resume_processes(checkpoint, accelerator.num_processes)
    elif list_checkpoints(checkpoints_dir):
        raise FileExistsError(
            f"{output_dir} already holds checkpoints; pass --resume to continue that run, or choose another "
            "training.output_dir"
        )

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, output_dir / "recipe.yaml")

    set_seed(training.seed)
    processor = build_processor(config.processor)
    data: PreparedData = prepare_data(config, processor, main_process_first=accelerator.main_process_first, log=say)
    # Seed again so the initial weights do not depend on what data preparation drew.
    set_seed(training.seed)
    model = build_model(config.model, data.label_names, log=say)
    if accelerator.num_processes > 1:
        # Dropout and modality dropout draw differently on each process (seed + process index); the weights
        # need not agree here, DDP gives every process those of process 0 when the model is prepared.
        set_seed(training.seed, device_specific=True)
    say(f"model: {model.config.model_type}, {sum(p.numel() for p in model.parameters()):,} parameters")

    collator = AVEmotionCollator(
        processor=processor if config.data.preprocessing == "on_the_fly" else None,
        label_column=config.data.label_column,
        target_columns=config.data.target_columns if config.model.head == "regression" else None,
        on_media_error=config.data.on_media_error,
        drop_modality=config.data.drop_modality,
    )
    # Frozen for the whole run: requires_grad=False before the optimizer is built, so it leaves them out.
    freezer = EncoderFreezer(model, config.model.freeze_encoders, config.model.unfreeze_encoders_after_epochs)
    freezer.set_epoch(0, log=say)
    # Frozen encoders computed once (data.feature_cache): the splits read their outputs while they stay frozen.
    cache_plan = plan_feature_cache(config, model)
    for line in cache_plan.messages:
        say(line)
    splits: dict[str, Any] = dict(data.splits)
    cached_views: list[FeatureCachedSplit] = []
    resumed_epoch = TrainerState.load(checkpoint).epoch if checkpoint is not None else 0
    if cache_plan.modalities and not cache_plan.active(resumed_epoch):
        say(f"feature cache: not built, the run resumes at epoch {resumed_epoch + 1} with the encoders unfrozen")
        cache_plan.modalities = []
    if cache_plan.modalities:
        model.to(accelerator.device)
        with accelerator.main_process_first():
            cached = build_feature_cache(
                data.processed,
                model,
                cache_plan,
                corpus=config.data.corpus,
                device=accelerator.device,
                autocast=accelerator.autocast,
                mixed_precision=training.mixed_precision,
                batch_size=training.per_device_eval_batch_size,
                log=say,
            )
        cached_views = [FeatureCachedSplit(data.splits[name], cached[name]) for name in data.splits]
        splits = dict(zip(data.splits, cached_views))
    workers = training.dataloader_num_workers
    train_loader = build_dataloader(
        splits["train"],
        training.per_device_train_batch_size,
        shuffle=True,
        collator=collator,
        workers=workers,
        seed=training.seed,
    )
    eval_loaders = {
        name: build_dataloader(
            splits[name],
            training.per_device_eval_batch_size,
            shuffle=False,
            collator=collator,
            workers=workers,
            seed=training.seed,
        )
        for name in ("validation", "test")
        if name in data.splits
    }
    optimizer = build_optimizer(model, config.optimizer)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    # Evaluation loaders stay unprepared: `evaluate_model` shares their batches among the processes itself.

    steps_per_epoch = max(math.ceil(len(train_loader) / training.gradient_accumulation_steps), 1)
    total_steps = training.max_steps or training.num_epochs * steps_per_epoch
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    warmup = (
        config.scheduler.warmup_steps
        if config.scheduler.warmup_steps is not None
        else int(config.scheduler.warmup_ratio * total_steps)
    )
    scheduler, stepped_by_epoch = build_scheduler(
        optimizer,
        config.scheduler,
        total_steps=total_steps,
        warmup_steps=warmup,
        num_processes=accelerator.num_processes,
        greater_is_better=training.greater_is_better,
    )
    if stepped_by_epoch:
        if config.scheduler.name == "reduce_on_plateau" and "validation" not in eval_loaders:
            raise ValueError(
                "scheduler 'reduce_on_plateau' steps on the validation metric; this run has no validation split"
            )
        # Stepped by the loop once per epoch (not per process); saved and restored with the checkpoints.
        accelerator.register_for_checkpointing(scheduler)
    else:
        scheduler = accelerator.prepare(scheduler)

    state = TrainerState()
    best_folder = {BEST_MODEL_DIR: output_dir / BEST_MODEL_DIR}
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = TrainerState.load(checkpoint)
        _restore_best(accelerator, checkpoint, output_dir)
        say(f"resumed from {checkpoint} (epoch {state.epoch}, step {state.global_step})")
    if trackers:
        accelerator.init_trackers("av_emotion", config=flatten_for_tracker(config.to_dict()))

    names = model_input_names(accelerator.unwrap_model(model))
    has_validation = "validation" in eval_loaders
    checkpointing = training.checkpoint_every_steps > 0
    progress = tqdm(
        total=total_steps, initial=state.global_step, desc="train", disable=not accelerator.is_local_main_process
    )
    window_loss, window_batches = torch.zeros((), device=accelerator.device), 0
    done = state.global_step >= total_steps or state.stopped_early
    _use_feature_cache(cached_views, cache_plan, state.epoch, say)
    model.train()
    for epoch in range(state.epoch, num_epochs):
        if done:
            break
        train_loader.set_epoch(epoch)
        freezer.set_epoch(epoch, log=say)
        _use_feature_cache(cached_views, cache_plan, epoch, say)
        skip = state.batches_in_epoch
        loader = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        for batch_index, batch in enumerate(loader, start=skip):
            if is_active(config.augmentation):
                batch = augment_batch(
                    batch,
                    config.augmentation,
                    augmentation_generator(training.seed, epoch, batch_index, accelerator.process_index),
                )
            with accelerator.accumulate(model):
                outputs = model(**select_inputs(batch, names))
                loss = outputs.loss
                if loss is None:
                    raise ValueError("the model returned no loss; does the batch carry `labels`?")
                accelerator.backward(loss)
                freezer.drop_frozen_gradients()  # before clipping, so frozen gradients do not count in the norm
                if accelerator.sync_gradients and training.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), training.max_grad_norm)
                optimizer.step()
                if not stepped_by_epoch:
                    scheduler.step()
                optimizer.zero_grad()
            state.batches_in_epoch = batch_index + 1
            window_loss += loss.detach().float()
            window_batches += 1
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress.update(1)
            if state.global_step % training.log_every_steps == 0 or state.global_step == total_steps:
                mean_loss = accelerator.gather(window_loss.reshape(1)).mean().item() / window_batches
                window_loss, window_batches = torch.zeros((), device=accelerator.device), 0
                progress.set_postfix(loss=f"{mean_loss:.4f}")
                rates = {group.get("name", ""): group["lr"] for group in optimizer.param_groups}
                logged = {"train/loss": mean_loss, "train/lr": optimizer.param_groups[0]["lr"], "train/epoch": epoch}
                encoder_rates = [rate for name, rate in rates.items() if name.startswith("encoders/")]
                if encoder_rates:  # the encoders' own learning rate (optimizer.encoder_lr)
                    logged["train/encoder_lr"] = encoder_rates[0]
                accelerator.log(logged, step=state.global_step)
            end_of_epoch = state.batches_in_epoch == len(train_loader)
            if state.global_step >= total_steps:
                done = True
                break
            if checkpointing and not end_of_epoch and state.global_step % training.checkpoint_every_steps == 0:
                path = save_checkpoint(
                    accelerator, checkpoints_dir, state, keep_last=training.keep_last_checkpoints, include=best_folder
                )
                say(f"checkpoint saved: {path}")

        # End of the epoch (or of the run): evaluate, keep the best, maybe stop, checkpoint.
        state.epoch = epoch + 1
        state.batches_in_epoch = 0
        record: dict[str, Any] = {"epoch": epoch + 1, "step": state.global_step}
        if has_validation:
            result = evaluate_model(
                model,
                eval_loaders["validation"],
                accelerator,
                label_names=data.label_names,
                head=config.model.head,
                desc="validation",
            )
            scalars = scalar_metrics(result.metrics, "validation")
            accelerator.log(scalars, step=state.global_step)
            record.update({key.split("/", 1)[1]: value for key, value in scalars.items()})
            value = result.metrics.get(training.metric_for_best)
            if not isinstance(value, (int, float)):
                raise ValueError(
                    f"training.metric_for_best={training.metric_for_best!r} is not a validation metric; "
                    f"available: {sorted(k for k, v in result.metrics.items() if isinstance(v, (int, float)))}"
                )
            if is_improvement(value, state.best_metric, training.greater_is_better):
                state.best_metric, state.best_epoch, state.best_step = float(value), epoch + 1, state.global_step
                state.evaluations_without_improvement = 0
                _save_best(accelerator, model, output_dir)
            else:
                state.evaluations_without_improvement += 1
            say(
                f"epoch {epoch + 1}/{num_epochs} step {state.global_step}: "
                + ", ".join(f"{key} {value:.4f}" for key, value in record.items() if isinstance(value, float))
                + f" (best {training.metric_for_best} {state.best_metric:.4f} at epoch {state.best_epoch})"
            )
            patience = training.early_stopping_patience
            if patience is not None and state.evaluations_without_improvement >= patience:
                state.stopped_early = True
                done = True
                say(f"early stopping: no improvement of {training.metric_for_best} in {patience} evaluations")
        else:
            say(f"epoch {epoch + 1}/{num_epochs} step {state.global_step} done (no validation split)")
        if stepped_by_epoch:
            if config.scheduler.name == "reduce_on_plateau":
                scheduler.step(value)
            else:
                scheduler.step()
            record["lr"] = optimizer.param_groups[0]["lr"]
        state.history.append(record)
        if checkpointing:
            path = save_checkpoint(
                accelerator, checkpoints_dir, state, keep_last=training.keep_last_checkpoints, include=best_folder
            )
            say(f"checkpoint saved: {path}")
    progress.close()

    return _finish(accelerator, model, processor, config, data, eval_loaders, state, output_dir, say)


def _use_feature_cache(
    views: list[FeatureCachedSplit], plan: FeatureCachePlan, epoch: int, say: Callable[[str], None]
) -> None:
    """Read the splits from the feature cache while the cached encoders are frozen, from their inputs after."""
    use = plan.active(epoch)
    if views and views[0].use_cache and not use:
        say(f"feature cache: encoders unfrozen from epoch {epoch + 1}; they run on the inputs again")
    for view in views:
        view.use_cache = use


def _main_process_printer(accelerator: Accelerator) -> Callable[[str], None]:
    """Print on the local main process only, above the progress bar."""

    def say(line: str) -> None:
        if accelerator.is_local_main_process:
            tqdm.write(line)

    return say


def _save_best(accelerator: Accelerator, model: torch.nn.Module, output_dir: Path) -> None:
    """Save the current weights as the best so far (`best_model/`, atomically)."""
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # a collective call under FSDP/DeepSpeed
    if accelerator.is_main_process:
        final = output_dir / BEST_MODEL_DIR
        temporary = output_dir / f"{TEMP_PREFIX}{BEST_MODEL_DIR}"
        shutil.rmtree(temporary, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(temporary, state_dict=state_dict)
        atomic_publish(temporary, final)
    accelerator.wait_for_everyone()


def _restore_best(accelerator: Accelerator, checkpoint: Path, output_dir: Path) -> None:
    """Put back the best model as it was when `checkpoint` was taken (or remove a later one)."""
    if accelerator.is_main_process:
        saved, current = checkpoint / BEST_MODEL_DIR, output_dir / BEST_MODEL_DIR
        if saved.is_dir():
            temporary = output_dir / f"{TEMP_PREFIX}{BEST_MODEL_DIR}"
            shutil.rmtree(temporary, ignore_errors=True)
            link_or_copy_tree(saved, temporary)
            atomic_publish(temporary, current)
        else:
            shutil.rmtree(current, ignore_errors=True)
    accelerator.wait_for_everyone()


def _record_backbones(config: RecipeConfig, output_dir: Path) -> None:
    """Carry the provenance of published backbones into the run's folder (its card then names them)."""
    from av_emotion.convert.pretrained import backbone_provenance, read_provenance, write_provenance

    section = config.model
    entries = backbone_provenance({m: (spec["format"], spec["checkpoint"]) for m, spec in section.backbones.items()})
    if section.pretrained and Path(section.pretrained).is_dir():
        entries += read_provenance(section.pretrained)
    write_provenance(output_dir, entries)


def _finish(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: Any,
    config: RecipeConfig,
    data: PreparedData,
    eval_loaders: dict[str, Any],
    state: TrainerState,
    output_dir: Path,
    say: Callable[[str], None],
) -> TrainResult:
    """Load the kept weights, test them, and write the model, processor, results and pictures."""
    accelerator.wait_for_everyone()
    best = output_dir / BEST_MODEL_DIR
    unwrapped = accelerator.unwrap_model(model)
    if state.best_metric is not None and (best / "model.safetensors").is_file():
        # Through from_pretrained, not a raw safetensors read: transformers renames some sub-model keys between
        # the saved layout and the modules (a ViT encoder's attention weights, for one).
        kept = type(unwrapped).from_pretrained(best)
        loaded = unwrapped.load_state_dict(kept.state_dict(), strict=False)
        if loaded.unexpected_keys:
            raise RuntimeError(f"{best} does not match the model: unexpected keys {loaded.unexpected_keys[:5]}")
        say(f"kept the weights of epoch {state.best_epoch} (best {config.training.metric_for_best})")
    test = evaluate_model(
        model, eval_loaders["test"], accelerator, label_names=data.label_names, head=config.model.head, desc="test"
    )
    accelerator.log(scalar_metrics(test.metrics, "test"), step=state.global_step)
    say("test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.metrics.items() if isinstance(v, float)))
    results = {
        "model_type": unwrapped.config.model_type,
        "corpus": config.data.corpus,
        "fold_protocol": config.data.fold_protocol,
        "fold": data.fold.index,
        "speakers": {
            "train": list(data.fold.train),
            "validation": list(data.fold.validation),
            "test": list(data.fold.test),
        },
        "split_sizes": {name: len(split) for name, split in data.splits.items()},
        "label_names": data.label_names,
        "seed": config.training.seed,
        "global_step": state.global_step,
        "epochs": state.epoch,
        "stopped_early": state.stopped_early,
        "metric_for_best": config.training.metric_for_best,
        "best_validation": state.best_metric,
        "best_epoch": state.best_epoch,
        "history": state.history,
        "test": test.metrics,
        "corpus_report": data.report.to_dict(),
        "skipped_media": [{"path": path, "reason": reason} for path, reason in data.skipped_media],
    }
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir, state_dict=state_dict)
        processor.save_pretrained(output_dir)
        _record_backbones(config, output_dir)
        write_results(output_dir, results)
        if config.model.head == "classification":
            plot_confusion_matrix(
                test.metrics["confusion_matrix"],
                data.label_names,
                output_dir / CONFUSION_MATRIX_FILE,
                title=f"{unwrapped.config.model_type} on {config.data.corpus}, fold {data.fold.index} (test)",
            )
        write_model_card_hook(output_dir, results, config.to_dict())
        shutil.rmtree(best, ignore_errors=True)
        say(f"saved model, processor and results to {output_dir}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return TrainResult(output_dir=output_dir, test_metrics=test.metrics, best_metric=state.best_metric, state=state)
