"""Many inputs through `pipeline("audio-video-emotion")`: preprocessing in worker processes, results in input order.

Decoding and face cropping cost more than the model on a CPU (a 3.6-s 720p clip: about a quarter of the time
decoding, a third preprocessing, a third in the model; `benchmarks/results/pipeline.md`). Here the pipeline's
`num_workers` DataLoader processes decode and preprocess while the main process runs the model, and the results come
back in input order whatever finished first.

How the work is cut:
- a *work item* is one input (a path, bytes or a decoded dict), or, with `window_s`, a run of consecutive windows of
  one path or bytes input (at most `WINDOWS_PER_WORK_ITEM`), so several workers share one long video and only a few
  windows' features are held at a time (memory stays flat in the video's length);
- the main process enumerates the work items lazily (the DataLoader's sampler), a worker turns one into its chunks
  (`AudioVideoEmotionPipeline.preprocess`), and the DataLoader hands the results back in the order they were asked
  for (`in_order`);
- chunks wait in buckets of equal tensor shapes until `batch_size` of them fill one (or until the bucket has waited
  for `max_wait` later chunks, or the inputs run out), so a batch is never padded: on a CPU padding is pure cost;
- each chunk's model output returns to its input; an input is post-processed and yielded once all its chunks are
  back and every input before it has been yielded.

Errors and warnings raised while preprocessing are caught in the worker, carried back with the result and raised
(or re-emitted) in the main process at that input's turn: the caller sees the same exception, naming the file, at
the same place in the stream as without workers, and `warnings.catch_warnings` in the caller records them.

Which batches form depends only on the order of the inputs and on `batch_size`, never on `num_workers` or on timing,
so the outputs are identical for every number of workers.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from av_emotion.processing.media import set_decode_threads

# Our choice: 8 windows of a long video per work item. Few enough that a worker holds little (8 windows of AVT-CA's
# paper input, 15 frames of 224x224, are about 70 MB of features) and that a one-minute video is shared among
# several workers; enough that reopening the file for each item costs nothing measurable.
WINDOWS_PER_WORK_ITEM = 8


@dataclass(frozen=True)
class WorkItem:
    """One unit of preprocessing: input `index` of the call, or a run of its windows (`windows`, a slice).

    `part` numbers the items of one input from 0; `num_parts` is how many there are.
    """

    index: int
    inputs: Any
    windows: slice | None = None
    part: int = 0
    num_parts: int = 1


@dataclass
class WorkResult:
    """What a worker returns for a `WorkItem`: its chunks in order, or the error that stopped it, and the warnings.

    `warnings` holds `(message, category, filename, lineno)` of each warning raised while preprocessing. `num_parts`
    is None while more parts of the input follow and their count is not known yet (`stream_in_process`); `split`
    says the input was cut into runs of windows, each decoded on its own.
    """

    index: int
    part: int
    num_parts: int | None
    label: str
    chunks: list[dict[str, Any]]
    error: BaseException | None = None
    warnings: list[tuple[str, type[Warning], str, int]] = field(default_factory=list)
    split: bool = False


def input_label(inputs: Any) -> str:
    """Return how an input is named in messages: its path, or `<bytes: N bytes>`."""
    if isinstance(inputs, (bytes, bytearray, memoryview)):
        return f"<bytes: {len(inputs)} bytes>"
    if isinstance(inputs, (str, Path)):
        return str(inputs)
    return "<decoded arrays>"


def _portable(error: BaseException) -> BaseException:
    """Return `error` if it survives pickling (to cross from a worker process), else a `RuntimeError` with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any failure to pickle means: send the text instead
        return RuntimeError(f"{type(error).__name__}: {error}")


class PreprocessingDataset(Dataset):
    """Map-style dataset whose "indices" are `WorkItem`s: `dataset[item]` preprocesses it into a `WorkResult`.

    `preprocess(inputs, windows=..., **preprocess_params)` is the pipeline's `preprocess` (a generator of chunks).
    """

    def __init__(self, preprocess: Callable[..., Iterable[dict[str, Any]]], preprocess_params: dict[str, Any]):
        self.preprocess = preprocess
        # The progress bar of a windowed input is drawn by the main process (see `run_in_order`).
        self.preprocess_params = {key: value for key, value in preprocess_params.items() if key != "progress"}

    def __getitem__(self, item: WorkItem) -> WorkResult:
        """Preprocess one work item in this process; errors and warnings are returned, not raised."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                kwargs = dict(self.preprocess_params)
                if item.windows is not None:
                    kwargs["windows"] = item.windows
                chunks, error = list(self.preprocess(item.inputs, **kwargs)), None
            except Exception as raised:  # noqa: BLE001 - re-raised in the main process at this input's turn
                chunks, error = [], raised
                if get_worker_info() is not None:
                    error.add_note("raised in a pipeline worker process:\n" + "".join(traceback.format_exc()))
                    error = _portable(error)
        return WorkResult(
            index=item.index,
            part=item.part,
            num_parts=item.num_parts,
            label=input_label(item.inputs),
            chunks=chunks,
            error=error,
            warnings=[(str(w.message), w.category, w.filename, w.lineno) for w in caught],
            split=item.windows is not None,
        )

    def __len__(self) -> int:  # pragma: no cover - the DataLoader never asks: the sampler has no length
        raise TypeError("a PreprocessingDataset has no length; iterate work items through a sampler")


def count_windows(inputs: str | bytes, window_s: float, stride_s: float) -> tuple[int, float] | None:
    """Return how many windows `iter_windows` cuts a file into and its duration (s); None if it cannot be probed.

    A file that cannot be probed is left whole: preprocessing it raises the error that names the problem.
    """
    from av_emotion.processing.media import MediaError, probe_media, window_bounds

    try:
        info = probe_media(inputs)
    except (MediaError, OSError, ValueError):
        return None
    return len(window_bounds(info.duration_s, window_s, stride_s, info.start_s)), float(info.duration_s)


def work_items(
    inputs: Iterable[Any],
    preprocess_params: dict[str, Any],
    num_workers: int,
    durations: dict[int, float] | None = None,
) -> Iterator[WorkItem]:
    """Enumerate the work items of the inputs, lazily (inputs may be a generator).

    With `window_s`, a path or bytes input of more than one window is split into runs of consecutive windows:
    `ceil(windows / num_workers)` each (one run per worker), at most `WINDOWS_PER_WORK_ITEM`. The last run of an
    input is open-ended (`slice(start, None)`), so it takes whatever windows the decoder cuts beyond the probe's
    count. `durations` (if given) receives the duration of each split input, for progress bars.
    """
    window_s = preprocess_params.get("window_s")
    stride_s = preprocess_params.get("stride_s") or window_s
    for index, item in enumerate(inputs):
        if isinstance(item, Path):
            item = str(item)
        elif isinstance(item, (bytearray, memoryview)):
            item = bytes(item)
        probed = None
        if window_s is not None and isinstance(item, (str, bytes)) and not str(item).startswith(("http:", "https:")):
            probed = count_windows(item, window_s, stride_s)
        if probed is None or probed[0] <= 1:
            yield WorkItem(index, item)
            continue
        count, duration = probed
        if durations is not None:
            durations[index] = duration
        per_item = max(1, min(WINDOWS_PER_WORK_ITEM, math.ceil(count / max(1, num_workers))))
        num_parts = math.ceil(count / per_item)
        for part in range(num_parts):
            stop = None if part == num_parts - 1 else (part + 1) * per_item
            yield WorkItem(index, item, slice(part * per_item, stop), part, num_parts)


def stream_in_process(
    inputs: Iterable[Any], preprocess: Callable[..., Iterable[dict[str, Any]]], preprocess_params: dict[str, Any]
) -> Iterator[WorkResult]:
    """Without workers: each input's chunks straight from its `preprocess` generator, one `WorkResult` per chunk.

    One open file per input and one window held at a time, as a single call has always done (work items would
    reopen a long video for every run of windows, for no gain without workers). The last result of an input
    carries no chunk, its `num_parts`, and the error if one stopped it. Warnings are recorded and returned like a worker's, so they reach the caller at the input's turn.
    """
    for index, item in enumerate(inputs):
        if isinstance(item, Path):
            item = str(item)
        label = input_label(item)
        chunks = iter(preprocess(item, **preprocess_params))
        part = 0
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    chunk, error = next(chunks, None), None
                except Exception as raised:  # noqa: BLE001 - raised by the runner at this input's turn
                    chunk, error = None, raised
            recorded = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
            if chunk is None:
                yield WorkResult(index, part, part + 1, label, [], error, recorded)
                break
            yield WorkResult(index, part, None, label, [chunk], None, recorded)
            part += 1


def _identity(batch: Any) -> Any:
    return batch


WORKER_NICENESS = 10
"""How much lower the workers' CPU priority is than the process that runs the model (`os.nice` increment)."""


def _init_worker(worker_id: int) -> None:
    """Set up a worker process so that it fills the cores the model leaves free, without taking the model's.

    - One torch thread and one FFmpeg decoder thread: the workers already use the cores, more threads only add
      hand-offs (`benchmarks/pipeline.py`: CPU per file in the workers 0.40 s -> 0.35 s with one decoder thread).
    - A lower priority (`WORKER_NICENESS`): the model's process is the serial part, and with two workers and the
      model on two cores the scheduler otherwise gives each of the three two thirds of a core, so the model waits
      for the CPU while the workers fill a queue it cannot drain. Niced, they take what the model leaves.

    OpenCV's thread count is left alone: `cv2.setNumThreads` in a forked child waits forever on the parent's thread
    pool (a condition variable no thread of the child will signal); seen here with opencv-python-headless 4.14.
    """
    torch.set_num_threads(1)
    set_decode_threads(1)
    if hasattr(os, "nice"):  # POSIX; where it is refused the workers run at normal priority
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)


def shape_key(chunk: dict[str, Any]) -> tuple:
    """Return what chunks that batch without padding share: their keys and tensor shapes."""
    return tuple(
        (name, tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else name
        for name, value in chunk.items()
    )


def unbatch(output: dict[str, Any], position: int, size: int) -> dict[str, Any]:
    """Return the model output of item `position` of a batch of `size` as a batch of one (a list: its element)."""
    if size == 1:
        return output
    item = {}
    for name, value in output.items():
        if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == size:
            item[name] = value[position : position + 1]
        elif isinstance(value, list) and len(value) == size:
            item[name] = value[position]
        else:
            item[name] = value
    return item


@dataclass
class _InputState:
    """Main-process bookkeeping of one input while its chunks are in flight."""

    label: str = "input"
    num_parts: int | None = None
    parts_seen: int = 0
    outputs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    outstanding: int = 0
    error: BaseException | None = None
    warnings: list[tuple[str, type[Warning], str, int]] = field(default_factory=list)
    windowed_parts: bool = False
    bar: Any = None

    @property
    def ready(self) -> bool:
        arrived = self.num_parts is not None and self.parts_seen == self.num_parts
        return arrived and (self.outstanding == 0 or self.error is not None)


def _emit_warnings(state: _InputState) -> None:
    """Re-emit a worker's warnings in this process; for a video split in runs, each category once per input.

    The processor warns once per file about a silent track; each run of windows is decoded on its own and would
    warn again.
    """
    seen: set[Any] = set()
    for message, category, filename, lineno in state.warnings:
        key = category if state.windowed_parts else (category, message)
        if key in seen:
            continue
        seen.add(key)
        warnings.warn_explicit(message, category, filename, lineno)


def run_in_order(
    inputs: Iterable[Any],
    preprocess: Callable[..., Iterable[dict[str, Any]]],
    forward: Callable[[dict[str, Any]], dict[str, Any]],
    postprocess: Callable[[list[dict[str, Any]]], Any],
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]],
    preprocess_params: dict[str, Any],
    num_workers: int,
    batch_size: int,
    max_wait: int | None = None,
) -> Iterator[Any]:
    """Yield `postprocess(chunk_outputs)` for each input, in input order (see the module docstring).

    Args:
        inputs: The pipeline's inputs (a list or a generator; consumed lazily).
        preprocess: `preprocess(inputs, windows=None, **preprocess_params)`, yielding chunks (dicts of batch-1
            tensors and metadata).
        forward: Runs the model on one batch of chunks (`Pipeline.forward`).
        postprocess: Turns one input's chunk outputs, in order, into its result.
        collate: Stacks chunks of equal shapes into a batch.
        preprocess_params: Keyword arguments of `preprocess`; `progress=True` draws a bar per split video here.
        num_workers: DataLoader worker processes (0: preprocess in this process).
        batch_size: Chunks per forward pass, all of one shape.
        max_wait: A bucket that holds a chunk for this many later chunks is run even if not full, so an input whose
            chunks have a rare shape does not hold back every input after it. Default `max(16, 4 * batch_size)`.
    """
    max_wait = max(16, 4 * batch_size) if max_wait is None else max_wait
    durations: dict[int, float] = {}
    progress = bool(preprocess_params.get("progress")) and preprocess_params.get("window_s") is not None
    loader_kwargs: dict[str, Any] = {}
    if num_workers > 0:
        loader_kwargs["worker_init_fn"] = _init_worker
        # fork shares the loaded model and processor with the workers for free; other platforms pickle the dataset.
        if sys.platform.startswith("linux"):
            loader_kwargs["multiprocessing_context"] = "fork"
    if num_workers == 0:
        loader: Iterable[WorkResult] = stream_in_process(inputs, preprocess, preprocess_params)
        progress = False  # preprocess draws its own bar
    else:
        loader = DataLoader(
            PreprocessingDataset(preprocess, preprocess_params),
            sampler=work_items(inputs, preprocess_params, num_workers, durations),
            batch_size=None,
            collate_fn=_identity,
            num_workers=num_workers,
            **loader_kwargs,
        )
    states: dict[int, _InputState] = {}
    buckets: dict[tuple, list[tuple[int, int, int, int, dict[str, Any]]]] = {}
    arrivals = 0
    next_index = 0

    def run_bucket(key: tuple) -> None:
        items = buckets.pop(key)
        chunks = [chunk for *_, chunk in items]
        output = forward(chunks[0] if len(chunks) == 1 else collate(chunks))
        for position, (_, index, part, chunk_position, _) in enumerate(items):
            state = states[index]
            state.outputs[(part, chunk_position)] = unbatch(output, position, len(items))
            state.outstanding -= 1
            if state.bar is not None:
                end = float(state.outputs[(part, chunk_position)].get("end") or 0.0)
                state.bar.update(max(0.0, round(end, 1) - state.bar.n))

    def deliver(state: _InputState) -> Any:
        if state.bar is not None:
            state.bar.close()
        _emit_warnings(state)
        if state.error is not None:
            raise state.error
        if not state.outputs:
            raise ValueError(f"{state.label}: no window could be decoded")
        return postprocess([state.outputs[key] for key in sorted(state.outputs)])

    iterator = iter(loader)
    try:
        for result in iterator:
            state = states.setdefault(result.index, _InputState(label=result.label))
            if result.num_parts is not None:
                state.num_parts = result.num_parts
            state.parts_seen += 1
            state.windowed_parts = state.windowed_parts or result.split
            state.warnings.extend(result.warnings)
            if result.error is not None and state.error is None:
                state.error = result.error
            if progress and state.bar is None and result.index in durations:
                from tqdm.auto import tqdm

                state.bar = tqdm(
                    total=round(durations[result.index], 1),
                    unit="s",
                    desc=Path(result.label).name,
                    leave=False,
                    file=sys.stderr,
                )
            for chunk_position, chunk in enumerate(result.chunks):
                arrivals += 1
                state.outstanding += 1
                key = shape_key(chunk)
                buckets.setdefault(key, []).append((arrivals, result.index, result.part, chunk_position, chunk))
                if len(buckets[key]) >= batch_size:
                    run_bucket(key)
            for key in [key for key, items in buckets.items() if items[0][0] <= arrivals - max_wait]:
                run_bucket(key)
            while next_index in states and states[next_index].ready:
                yield deliver(states.pop(next_index))
                next_index += 1
        for key in sorted(buckets, key=lambda key: buckets[key][0][0]):
            run_bucket(key)
        while next_index in states:
            yield deliver(states.pop(next_index))
            next_index += 1
    finally:
        # Stops the worker processes now if the caller stops early (an error, a break), not at garbage collection.
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
