"""`pipeline("audio-video-emotion")`: a video file in, emotions out, in one call.

The checkpoint's own saved processor does all the preprocessing: it decodes files (`load_clip`, or `iter_clips`
window by window, through PyAV) with its recipe and turns clips into model inputs (`process_clips`, or `__call__`
for decoded arrays). The pipeline batches, runs the model, and returns plain, JSON-serializable Python objects:

- classification heads: `[{"label": str, "score": float}, ...]`, sorted by descending score;
- regression heads (valence/arousal, `problem_type="regression"`): `{"valence": float, "arousal": float}`;
- with `window_s` (and `stride_s`): `{"timeline": [{"start", "end", "labels"}, ...], "aggregate": [...]}`, decoded
  window by window so memory stays flat however long the video is;
- with `return_details=True` or `min_face_fraction` (whole clip), and always per window and per timeline: what the
  model saw, `face_fraction` (share of the sampled frames with a detected face) and `modalities` (the branches that
  ran), and `abstained` (no prediction because too few frames had a face). A clip or video in which no face was
  found gets a `NoFaceWarning`.

It is a `ChunkPipeline`: a whole clip is one chunk, a long video is one chunk per window, and `batch_size` batches
chunks of equal shapes (windows of one video, or clips of several inputs) through the model together. `num_workers`
processes decode and preprocess while the model runs (`parallel_preprocessing`), results in input order.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import math
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline

from av_emotion.modeling.auto import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
)
from av_emotion.processing.media import check_modalities_argument

# Keys of a dict input: decoded frames (T, H, W, 3) uint8, a mono waveform (samples,) and its rate in Hz.
DICT_INPUT_KEYS = ("video", "audio", "sampling_rate")
FUNCTIONS_TO_APPLY = ("softmax", "sigmoid", "none")
# Output names of a regression head when its config does not name them (DESIGN.md section 3: logits[:, 0] is
# valence, logits[:, 1] arousal).
DEFAULT_REGRESSION_NAMES = ("valence", "arousal")
# What the model saw, added to windowed results (each window and the whole video) and, on request, to whole clips.
DETAIL_KEYS = ("face_fraction", "modalities", "abstained")
# Keys a chunk carries from preprocessing to postprocessing besides the model inputs.
_CHUNK_METADATA = ("start", "end", "windowed", "is_last", "source")


@functools.cache
def _glibc_malloc_trim() -> Any:
    """Return the C library's `malloc_trim` where it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the OS (glibc `malloc_trim(0)`; nothing elsewhere).

    Measured on a 10-min video, 10-s windows, paper-size AVT-CA: the process grew by about 7 MiB a window (1.33 ->
    1.81 GiB over 61 windows) with nothing kept alive (tracemalloc flat): glibc's dynamic mmap threshold moves the
    per-window tensors (~9 MiB of frames) onto the heap, which then fragments. With a fixed threshold
    (`MALLOC_MMAP_THRESHOLD_=1048576`) it stayed at 1.20-1.25 GiB; trimming after every windowed batch does the
    same without asking the user to set the environment.
    """
    trim = _glibc_malloc_trim()
    if trim is not None:
        trim(0)


class NoFaceWarning(UserWarning):
    """The face detector found no face in the sampled frames of a clip (or of some windows of a video)."""


def is_regression_config(config: Any) -> bool:
    """Whether a config describes a dimensional (valence/arousal) head rather than a categorical one.

    True when `config.problem_type == "regression"`, or when `config.architectures` names the regression head
    registered for the config's `model_type`.
    """
    if getattr(config, "problem_type", None) == "regression":
        return True
    architecture = ARCHITECTURES.get(getattr(config, "model_type", None))
    if architecture is None or architecture.regression_class is None:
        return False
    return architecture.regression_class.__name__ in (getattr(config, "architectures", None) or [])


class AutoModelForAudioVideoEmotion(AutoModelForAudioVideoClassification):
    """Loads whichever av_emotion head a checkpoint was saved with: classification or regression.

    `pipeline()` tries the model classes registered for a task in order and keeps the first that loads. A
    classification Auto class would "load" a regression checkpoint too, silently re-initialising its head, so the
    pipeline is registered with this class, which reads the config first and delegates to
    `AutoModelForAudioVideoRegression` or `AutoModelForAudioVideoClassification`.
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load the head named by the checkpoint's config (see `is_regression_config`).

        A local folder with an exported `model.onnx` and no PyTorch weights (`av-emotion export DIR --onnx-dir OUT`)
        loads as `ORTModelForAudioVideoEmotion`, which runs the graph with onnxruntime behind the same interface.
        """
        from av_emotion.export.modeling_ort import is_onnx_folder

        if is_onnx_folder(pretrained_model_name_or_path):
            from av_emotion.export.modeling_ort import ORTModelForAudioVideoEmotion

            if model_args:
                raise TypeError(f"{pretrained_model_name_or_path}: an ONNX model takes no positional model arguments")
            return ORTModelForAudioVideoEmotion.from_pretrained(pretrained_model_name_or_path, **kwargs)
        config = kwargs.get("config")
        if config is None or isinstance(config, (str, os.PathLike)):
            from transformers import AutoConfig

            config_kwargs = {
                key: kwargs[key]
                for key in ("revision", "token", "local_files_only", "cache_dir", "trust_remote_code")
                if key in kwargs
            }
            config = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, **config_kwargs)
            kwargs["config"] = config
        auto_class = (
            AutoModelForAudioVideoRegression if is_regression_config(config) else AutoModelForAudioVideoClassification
        )
        try:
            return auto_class.from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except OSError:
            # No PyTorch weights: a Hub repo holding an exported `model.onnx` instead loads with onnxruntime.
            # Only tried after the PyTorch load failed, so loading a PyTorch repo costs no extra request.
            onnx_model = _load_onnx_from_hub(pretrained_model_name_or_path, kwargs)
            if onnx_model is None:
                raise
            return onnx_model


def _load_onnx_from_hub(model_id: Any, kwargs: dict[str, Any]) -> Any:
    """`ORTModelForAudioVideoEmotion` for a repo (or cache entry) that has `model.onnx`, else None."""
    from transformers.utils import cached_file

    from av_emotion.export.modeling_ort import ORTModelForAudioVideoEmotion

    hub_kwargs = {key: kwargs[key] for key in ("revision", "token", "local_files_only", "cache_dir") if key in kwargs}
    try:
        found = cached_file(
            str(model_id),
            "model.onnx",
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
            **hub_kwargs,
        )
    except OSError:
        return None
    if found is None:
        return None
    return ORTModelForAudioVideoEmotion.from_pretrained(model_id, **kwargs)


def _pad_to(tensor: torch.Tensor, shape: tuple[int, ...], value: float | bool) -> torch.Tensor:
    """Pad `tensor` at the end of every axis up to `shape` (same number of axes) with `value`."""
    if tuple(tensor.shape) == tuple(shape):
        return tensor
    padded = torch.full(shape, value, dtype=tensor.dtype)
    padded[tuple(slice(0, size) for size in tensor.shape)] = tensor
    return padded


def collate_chunks(items: list[dict[str, Any]], feature_padding_value: float = 0.0) -> dict[str, Any]:
    """Stack preprocessed chunks (each a dict of batch-1 tensors plus metadata) into one batch.

    Clips of different lengths give tensors of different sizes (audio frames, sometimes video frames): each axis is
    padded at its end to the longest item, masks with `False` and features with `feature_padding_value`, so the
    masks the processor returned still say which positions are real. Non-tensor values become lists.
    """
    keys = set(items[0])
    for item in items[1:]:
        if set(item) != keys:
            raise ValueError(f"cannot batch chunks with different keys: {sorted(keys)} vs {sorted(item)}")
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if not isinstance(values[0], torch.Tensor):
            batch[key] = values
            continue
        if values[0].ndim == 0:
            batch[key] = torch.stack(values)
            continue
        shape = tuple(max(sizes) for sizes in zip(*(value.shape[1:] for value in values)))
        if values[0].dtype == torch.bool:
            pad_value: float | bool = False
        elif values[0].is_floating_point():
            pad_value = feature_padding_value
        else:
            pad_value = 0
        batch[key] = torch.cat([_pad_to(value, (value.shape[0], *shape), pad_value) for value in values])
    return batch


class AudioVideoEmotionPipeline(ChunkPipeline):
    """Emotion recognition from a video's frames and audio track, with any av_emotion checkpoint.

    Load it with `pipeline("audio-video-emotion", model="path/or/repo-id")` after `import av_emotion`. The model and
    its processor load from a local directory or a Hub repo id; the pipeline runs on the first GPU when CUDA is
    available (pass `device="cpu"` to force the CPU).

    Inputs (one, or a list of any mix of them):
        - a path (`str` or `pathlib.Path`) to a video file with an audio track (mp4, mkv, avi, flv, webm, ...);
        - the `bytes` of such a file;
        - a dict `{"video": frames, "audio": waveform, "sampling_rate": sr}` of already-decoded media: frames
          `(T, H, W, 3)` uint8 RGB, waveform `(samples,)` float mono at `sr` Hz. Either modality may be `None` when
          the matching `allow_missing_*` flag is set.

    Parameters (at construction or per call):
        top_k (`int`, *optional*): how many labels to return; default all, sorted by descending score.
        function_to_apply (`str`, *optional*): `"softmax"`, `"sigmoid"` or `"none"` on the logits. Default
            `"sigmoid"` for multi-label or single-logit heads, else `"softmax"`. Ignored by regression heads.
        allow_missing_audio / allow_missing_video (`bool`, default `False`): a file without that stream is run
            through the other branch alone (the processor masks the missing modality) instead of raising.
        window_s / stride_s (`float`, seconds): slide a window of `window_s` seconds every `stride_s` seconds
            (default `stride_s = window_s`) and return a timeline. See `postprocess` for the output and for how the
            aggregate and the last partial window are handled. Needs a path or bytes input.
        progress (`bool`, default `False`): a tqdm bar on stderr while the windows of a long video are decoded.
        modalities (`tuple[str]`, *optional*): `("video",)` or `("audio",)` runs one branch only, whatever the file
            holds (the other stream is not decoded); default both. An audio track of digital silence is treated as
            missing by the processor (its `silence_threshold`) with a `SilentAudioWarning`; `("video",)` says so.
        return_details (`bool`, default `False`): whole clip: return `{"labels": [...], "face_fraction",
            "modalities", "abstained"}` (regression: the valence/arousal keys plus those) instead of the bare list.
            Windowed results always carry these keys, per window and for the whole video.
        min_face_fraction (`float` in [0, 1], *optional*): abstain where fewer than this share of the sampled frames
            had a detected face (a clip or window without video counts as 0): its labels are `[]` (regression: None
            values) and `abstained` is True; the windowed aggregate averages the windows that did not abstain.
            Implies `return_details=True`. Needs a processor that crops faces (`do_face_crop=True`).
        batch_size (`int`): chunks (clips or windows) per forward pass. Over several inputs only chunks of equal
            shapes are batched together (nothing padded); batched and one-by-one scores agree to about 1e-7.
        num_workers (`int`, default 0): processes that decode and preprocess (face crops, audio features) while
            this process runs the model; windows of one long video are shared among them in runs of up to 8. Results come
            in input order and are the same for every `num_workers`; an error (naming the file) is raised at its
            input's turn, and warnings reach the caller. See `av_emotion.pipelines.parallel_preprocessing`.
    """

    _load_processor = True
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError(
                "the audio-video-emotion pipeline needs the checkpoint's processor: save it next to the model with "
                "`processor.save_pretrained(dir)` or pass `processor=` to `pipeline()`"
            )
        self.is_regression = is_regression_config(self.model.config)
        forward_parameters = inspect.signature(self.model.forward).parameters
        self._model_input_names = {name for name in forward_parameters if name not in ("labels", "return_dict")}

    # ------------------------------------------------------------------ parameters
    def _sanitize_parameters(
        self,
        top_k: int | None = None,
        function_to_apply: str | None = None,
        allow_missing_audio: bool | None = None,
        allow_missing_video: bool | None = None,
        window_s: float | None = None,
        stride_s: float | None = None,
        progress: bool | None = None,
        modalities: Any = None,
        return_details: bool | None = None,
        min_face_fraction: float | None = None,
        **unknown: Any,
    ) -> tuple[dict, dict, dict]:
        # `pipeline(..., local_files_only=True)` leaves that Hub option among the pipeline's own kwargs.
        unknown.pop("local_files_only", None)
        if unknown:
            raise TypeError(
                f"audio-video-emotion pipeline got unknown parameters {sorted(unknown)}; it takes top_k, "
                "function_to_apply, allow_missing_audio, allow_missing_video, window_s, stride_s, progress, "
                "modalities, return_details, min_face_fraction"
            )
        preprocess: dict[str, Any] = {}
        postprocess: dict[str, Any] = {}
        if allow_missing_audio is not None:
            preprocess["allow_missing_audio"] = bool(allow_missing_audio)
        if allow_missing_video is not None:
            preprocess["allow_missing_video"] = bool(allow_missing_video)
        for name, value in (("window_s", window_s), ("stride_s", stride_s)):
            if value is not None:
                if not value > 0:
                    raise ValueError(f"{name} must be a positive number of seconds, got {value}")
                preprocess[name] = float(value)
        if progress is not None:
            preprocess["progress"] = bool(progress)
        if modalities is not None:
            check_modalities_argument(modalities)
            preprocess["modalities"] = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        if return_details is not None:
            postprocess["return_details"] = bool(return_details)
        if min_face_fraction is not None:
            if not 0.0 <= float(min_face_fraction) <= 1.0:
                raise ValueError(f"min_face_fraction must be a share of frames in [0, 1], got {min_face_fraction}")
            if not self._crops_faces:
                raise ValueError(
                    "min_face_fraction needs a processor that detects faces; this model's processor has "
                    "do_face_crop=False (save it with do_face_crop=True, or drop min_face_fraction)"
                )
            postprocess["min_face_fraction"] = float(min_face_fraction)
        if top_k is not None:
            if int(top_k) < 1:
                raise ValueError(f"top_k must be at least 1, got {top_k}")
            postprocess["top_k"] = int(top_k)
        if function_to_apply is not None:
            if function_to_apply not in FUNCTIONS_TO_APPLY:
                raise ValueError(f"function_to_apply must be one of {FUNCTIONS_TO_APPLY}, got {function_to_apply!r}")
            postprocess["function_to_apply"] = function_to_apply
        return preprocess, {}, postprocess

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Predict emotions for one input or a list of inputs (see the class docstring for both)."""
        if inputs is None:
            raise ValueError("the audio-video-emotion pipeline needs an input: a path, bytes, a dict, or a list")
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            return []
        return super().__call__(inputs, **kwargs)

    # ------------------------------------------------------------------ preprocessing
    @property
    def num_frames(self) -> int:
        """Frames sampled per clip or window, from the saved processor."""
        return self.processor.num_frames

    @property
    def sampling_rate(self) -> int:
        """Audio rate in Hz the processor expects, from the saved processor."""
        return self.processor.sampling_rate

    @property
    def _crops_faces(self) -> bool:
        return bool(getattr(self.processor.video_processor, "do_face_crop", False))

    def _with_face_fraction(self, features: Any) -> dict[str, Any]:
        """Return the processor's features as a dict with `face_fraction` `(1,)` float, NaN where not measured."""
        features = dict(features)
        fraction = features.pop("face_fraction", None)
        measured = fraction is not None and bool(features["has_video"][0])
        features["face_fraction"] = fraction.float() if measured else torch.full((1,), float("nan"))
        return features

    def _dict_chunk(
        self,
        item: Mapping[str, Any],
        allow_missing_audio: bool,
        allow_missing_video: bool,
        modalities: tuple[str, ...] | None = None,
    ) -> dict:
        """Model inputs for a `{"video": frames, "audio": waveform, "sampling_rate": sr}` input."""
        unknown = set(item) - set(DICT_INPUT_KEYS)
        if unknown:
            raise ValueError(f"dict input has unknown keys {sorted(unknown)}; expected {list(DICT_INPUT_KEYS)}")
        frames, audio = item.get("video"), item.get("audio")
        want_video, want_audio = check_modalities_argument(modalities)
        if not want_video:
            frames, allow_missing_video = None, True
        if not want_audio:
            audio, allow_missing_audio = None, True
        if frames is None and audio is None:
            raise ValueError('dict input has neither "video" frames nor an "audio" waveform')
        if frames is None and not allow_missing_video:
            raise ValueError('dict input has no "video" frames; pass allow_missing_video=True to run the audio alone')
        if audio is None and not allow_missing_audio:
            raise ValueError('dict input has no "audio" waveform; pass allow_missing_audio=True to run the video alone')
        sampling_rate = item.get("sampling_rate")
        duration = 0.0
        if audio is not None:
            if sampling_rate is None:
                raise ValueError('dict input has "audio" but no "sampling_rate" (Hz); add it, e.g. 16000')
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim != 1:
                raise ValueError(f'dict input "audio" must be a mono waveform (samples,), got shape {audio.shape}')
            duration = len(audio) / float(sampling_rate)
        if frames is not None:
            frames = np.asarray(frames)
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f'dict input "video" must be RGB frames (T, H, W, 3), got shape {frames.shape}')
        features = self.processor(
            videos=[frames],
            audio=[audio],
            sampling_rate=int(sampling_rate) if sampling_rate is not None else self.sampling_rate,
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            return_tensors="pt",
            **({"return_face_fraction": True} if self._crops_faces else {}),
        )
        return {
            **self._with_face_fraction(features),
            "start": 0.0,
            "end": duration,
            "windowed": False,
            "is_last": True,
            "source": "<decoded arrays>",
        }

    def preprocess(
        self,
        inputs: Any,
        allow_missing_audio: bool = False,
        allow_missing_video: bool = False,
        window_s: float | None = None,
        stride_s: float | None = None,
        progress: bool = False,
        modalities: tuple[str, ...] | None = None,
        windows: slice | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield one chunk of model inputs per clip, or per window when `window_s` is set.

        `windows` (a slice of window indices; not a pipeline parameter) yields only those windows: the work item of
        one worker process when several share a long video (`parallel_preprocessing`).
        """
        if isinstance(inputs, Path):
            inputs = str(inputs)
        if isinstance(inputs, (bytearray, memoryview)):
            inputs = bytes(inputs)
        if isinstance(inputs, str) and inputs.startswith(("http://", "https://")):
            raise ValueError(f"{inputs}: URLs are not fetched; download the file and pass its path or bytes")
        if stride_s is not None and window_s is None:
            raise ValueError(f"stride_s={stride_s:g} needs window_s: pass window_s (seconds) to get a timeline")
        if isinstance(inputs, Mapping):
            if window_s is None:
                yield self._dict_chunk(inputs, allow_missing_audio, allow_missing_video, modalities)
                return
        elif modalities is not None:
            want_video, want_audio = check_modalities_argument(modalities)
            allow_missing_audio = allow_missing_audio or not want_audio
            allow_missing_video = allow_missing_video or not want_video
        if window_s is not None:
            yield from self._preprocess_windows(
                inputs,
                window_s,
                stride_s or window_s,
                allow_missing_audio,
                allow_missing_video,
                progress,
                modalities,
                windows,
            )
            return
        if not isinstance(inputs, (str, bytes)):
            raise ValueError(
                f"unsupported input of type {type(inputs).__name__}: pass a path, the bytes of a video file, or a "
                'dict {"video": frames, "audio": waveform, "sampling_rate": sr}'
            )
        # The processor decodes with its own recipe: frame count, sampling rate, clip window, frame size.
        clip = self.processor.load_clip(
            inputs,
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            modalities=modalities,
        )
        yield self._clip_chunk(clip, allow_missing_audio, allow_missing_video, windowed=False, is_last=True)

    def _clip_chunk(
        self, clip: Any, allow_missing_audio: bool, allow_missing_video: bool, windowed: bool, is_last: bool
    ) -> dict[str, Any]:
        """Model inputs plus timing for one `DecodedClip` (a whole file or one window)."""
        features = self.processor.process_clips(
            [clip],
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            return_tensors="pt",
            **({"return_face_fraction": True} if self._crops_faces else {}),
        )
        return {
            **self._with_face_fraction(features),
            "start": float(clip.start_s),
            "end": float(clip.end_s),
            "windowed": windowed,
            "is_last": is_last,
            "source": clip.path,
        }

    def _preprocess_windows(
        self,
        inputs: Any,
        window_s: float,
        stride_s: float,
        allow_missing_audio: bool,
        allow_missing_video: bool,
        progress: bool,
        modalities: tuple[str, ...] | None = None,
        windows: slice | None = None,
    ) -> Iterator[dict[str, Any]]:
        from av_emotion.processing.media import probe_media

        if not isinstance(inputs, (str, bytes)):
            raise ValueError(
                "window_s needs a path or the bytes of a video file (decoded dict inputs carry no timestamps)"
            )
        label = inputs if isinstance(inputs, str) else f"<bytes: {len(inputs)} bytes>"
        bar = None
        if progress:
            from tqdm.auto import tqdm

            duration = probe_media(inputs).duration_s
            bar = tqdm(total=round(duration, 1), unit="s", desc=Path(label).name, leave=False, file=sys.stderr)
        clips = self.processor.iter_clips(
            inputs,
            window_s=window_s,
            stride_s=stride_s,
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            modalities=modalities,
            windows=windows,
        )
        # Look one window ahead so the last chunk can carry is_last=True; only two windows are held at a time.
        current = next(clips, None)
        if current is None:
            if windows is not None:
                return  # a run of windows past the file's end; the caller checks that the file gave some
            raise ValueError(f"{label}: no window could be decoded")
        while current is not None:
            following = next(clips, None)
            yield self._clip_chunk(
                current, allow_missing_audio, allow_missing_video, windowed=True, is_last=following is None
            )
            if bar is not None:
                bar.update(round(float(current.end_s), 1) - bar.n)
            current = following
        if bar is not None:
            bar.close()

    # ------------------------------------------------------------------ batching
    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        """Results of a list or generator of inputs, in input order; preprocessing in `num_workers` processes.

        Replaces `ChunkPipeline.get_iterator` (which forces one worker, because chunks come from generators): work
        items are whole inputs or runs of windows of one video, a DataLoader preprocesses them in worker processes
        while this process runs the model, and chunks are batched only with chunks of the same shapes, so nothing
        is padded. See `av_emotion.pipelines.parallel_preprocessing`.
        """
        from av_emotion.pipelines.parallel_preprocessing import run_in_order

        if num_workers is None or num_workers < 0:
            raise ValueError(f"num_workers must be 0 (preprocess in this process) or more, got {num_workers}")
        if batch_size is None or batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        padding_value = float(getattr(getattr(self.processor, "feature_extractor", None), "padding_value", 0.0) or 0.0)
        return run_in_order(
            inputs,
            preprocess=self.preprocess,
            forward=lambda batch: self.forward(batch, **forward_params),
            postprocess=lambda outputs: self.postprocess(outputs, **postprocess_params),
            collate=lambda items: collate_chunks(items, padding_value),
            preprocess_params=preprocess_params,
            num_workers=int(num_workers),
            batch_size=int(batch_size),
        )

    # ------------------------------------------------------------------ model
    def _forward(self, chunk: dict[str, Any]) -> dict[str, Any]:
        model_inputs = {}
        for name, value in chunk.items():
            if name in self._model_input_names and isinstance(value, torch.Tensor):
                if value.is_floating_point():
                    value = value.to(self.model.dtype)
                model_inputs[name] = value
        # A modality absent from every clip of the batch is not passed at all: the processor's placeholder for it
        # (zeros, an all-False mask) can be shorter than an encoder accepts, and every model takes None.
        for flag, names in (
            ("has_audio", ("input_features", "input_values", "audio_mask")),
            ("has_video", ("pixel_values_videos", "video_mask")),
        ):
            present = chunk.get(flag)
            if isinstance(present, torch.Tensor) and not bool(present.any()):
                for name in names:
                    model_inputs.pop(name, None)
        outputs = self.model(**model_inputs)
        # "logits" first: the pipeline's batch unrolling reads the batch size from the first value.
        result = {"logits": outputs.logits.float()}
        for name in ("face_fraction", "has_video", "has_audio"):
            result[name] = chunk[name].cpu() if isinstance(chunk.get(name), torch.Tensor) else chunk.get(name)
        result.update({name: chunk[name] for name in _CHUNK_METADATA})
        windowed = chunk.get("windowed")
        if any(windowed) if isinstance(windowed, list) else bool(windowed):  # a list in batches of several chunks
            # A long video is many batches of the same large tensors: return their freed heap pages each time, so
            # memory stays flat in the number of windows (see `release_freed_memory`).
            del outputs, model_inputs
            release_freed_memory()
        return result

    # ------------------------------------------------------------------ postprocessing
    def _default_function(self) -> str:
        config = self.model.config
        if config.problem_type == "multi_label_classification" or config.num_labels == 1:
            return "sigmoid"
        return "softmax"

    def _regression_names(self, width: int) -> list[str]:
        # `id2label` of a regression config still lists the categorical labels (it is shared with the
        # classification head), so the output names come from `regression_targets` when the config has them.
        names = list(getattr(self.model.config, "regression_targets", None) or DEFAULT_REGRESSION_NAMES)
        return names[:width] + [f"output_{index}" for index in range(len(names), width)]

    def _scores(self, logits: torch.Tensor, function_to_apply: str) -> torch.Tensor:
        if function_to_apply == "softmax":
            return logits.softmax(-1)
        if function_to_apply == "sigmoid":
            return logits.sigmoid()
        return logits

    def _labels(self, scores: torch.Tensor, top_k: int | None) -> list[dict[str, Any]]:
        top_k = len(scores) if top_k is None else min(top_k, len(scores))
        values, indices = scores.topk(top_k)
        id2label = self.model.config.id2label
        return [
            {"label": id2label[index], "score": float(value)} for value, index in zip(values.tolist(), indices.tolist())
        ]

    @staticmethod
    def _seen(output: dict[str, Any]) -> tuple[float | None, list[str]]:
        """`face_fraction` (None where not measured: no video, or no face cropping) and the modalities a chunk used."""

        def first(value: Any) -> Any:
            return value.reshape(-1)[0].item() if isinstance(value, torch.Tensor) else value

        fraction = first(output.get("face_fraction"))
        fraction = None if fraction is None or math.isnan(float(fraction)) else float(fraction)
        modalities = [name for name in ("video", "audio") if bool(first(output.get(f"has_{name}", True)))]
        return fraction, modalities

    def _warn_missing_faces(
        self, source: str, fractions: list[float | None], windowed: bool, abstaining: bool, with_audio: bool
    ) -> None:
        """Warn when the face detector found nothing: in the whole clip, or in some windows of a video."""
        measured = [fraction for fraction in fractions if fraction is not None]
        without = sum(fraction == 0.0 for fraction in measured)
        if not without:
            return
        frames = self.num_frames
        rest = "the voice and whatever was in view" if with_audio else "whatever was in view"
        consequence = (
            f"the video branch saw centre crops, so the scores rest on {rest}"
            if not abstaining
            else "no prediction is given where too few frames had a face (min_face_fraction)"
        )
        if not windowed:
            where = f"no face was found in any of the {frames} sampled frames"
        elif without == len(measured):
            where = f"no face was found in any sampled frame of its {len(measured)} windows"
        else:
            where = f"no face was found in {without} of {len(measured)} windows"
        warnings.warn(f"{source}: {where}; {consequence}", NoFaceWarning, stacklevel=2)

    def postprocess(
        self,
        chunk_outputs: list[dict[str, Any]],
        top_k: int | None = None,
        function_to_apply: str | None = None,
        return_details: bool = False,
        min_face_fraction: float | None = None,
    ) -> Any:
        """Turn the chunk outputs of one input into plain Python objects.

        Whole clip: `[{"label", "score"}]` sorted by descending score (`top_k` of them; default all), or for a
        regression head `{"valence": v, "arousal": a}` (in [-1, 1]). With `return_details=True` or
        `min_face_fraction`: `{"labels": [...], "face_fraction": f, "modalities": [...], "abstained": bool}`
        (regression: the valence/arousal keys in place of `"labels"`).

        Windows: `{"timeline": [{"start": s, "end": e, "labels": [...], "face_fraction", "modalities", "abstained"},
        ...], "aggregate": [...], "face_fraction", "modalities", "abstained"}`, start and end in seconds from the
        start of the file, each window's labels as above (regression: `"valence"` and `"arousal"` keys in place of
        `"labels"`). The aggregate is the unweighted mean over the windows that did not abstain of the window
        scores after `function_to_apply` (mean of window probabilities with softmax), re-sorted; for regression the
        mean valence and arousal. Which windows exist, including the last partial one, is decided by
        `av_emotion.processing.media.iter_windows`; the pipeline reports each window's real start and end.

        `face_fraction` is the share of the sampled frames in which a face was detected (for the whole video: over
        the windows with video), None without video or without face cropping; `modalities` lists the branches the
        model ran (`"video"`, `"audio"`; a silent audio track is not one); `abstained` is True where
        `face_fraction` is below `min_face_fraction` (None counts as 0).
        """
        logits = torch.cat([output["logits"] for output in chunk_outputs]).float()  # (chunks, num_labels)
        seen = [self._seen(output) for output in chunk_outputs]
        abstained = [min_face_fraction is not None and (fraction or 0.0) < min_face_fraction for fraction, _ in seen]
        windowed = bool(chunk_outputs[0]["windowed"])
        source = str(chunk_outputs[0].get("source") or "input")
        with_audio = any("audio" in used for _, used in seen)
        fractions = [fraction for fraction, _ in seen]
        self._warn_missing_faces(source, fractions, windowed, min_face_fraction is not None, with_audio)
        kept = torch.tensor([not value for value in abstained], dtype=torch.bool)
        if self.is_regression:
            names = self._regression_names(logits.shape[-1])

            def describe(values: torch.Tensor | None) -> dict[str, float | None]:
                if values is None:
                    return dict.fromkeys(names)
                return {name: float(value) for name, value in zip(names, values.tolist())}

            per_chunk = [describe(None if skip else row) for row, skip in zip(logits, abstained)]
            aggregate: Any = describe(logits[kept].mean(0) if kept.any() else None)
        else:
            scores = self._scores(logits, function_to_apply or self._default_function())
            per_chunk = [[] if skip else self._labels(row, top_k) for row, skip in zip(scores, abstained)]
            aggregate = self._labels(scores[kept].mean(0), top_k) if kept.any() else []
        details = min_face_fraction is not None or return_details
        if not windowed:
            (fraction, modalities), result = seen[0], per_chunk[0]
            if not details:
                return result
            body = dict(result) if self.is_regression else {"labels": result}
            return {**body, "face_fraction": fraction, "modalities": modalities, "abstained": abstained[0]}
        timeline = []
        for output, result, (fraction, modalities), skip in zip(chunk_outputs, per_chunk, seen, abstained):
            entry: dict[str, Any] = {"start": float(output["start"]), "end": float(output["end"])}
            if self.is_regression:
                entry.update(result)
            else:
                entry["labels"] = result
            entry.update(face_fraction=fraction, modalities=modalities, abstained=skip)
            timeline.append(entry)
        measured = [fraction for fraction, _ in seen if fraction is not None]
        return {
            "timeline": timeline,
            "aggregate": aggregate,
            "face_fraction": float(np.mean(measured)) if measured else None,
            "modalities": [name for name in ("video", "audio") if any(name in used for _, used in seen)],
            "abstained": all(abstained),
        }
