"""Run an exported ONNX model with onnxruntime behind the interface of the PyTorch model (optimum's ORTModel pattern).

    >>> from av_emotion.export import ORTModelForAudioVideoEmotion
    >>> model = ORTModelForAudioVideoEmotion.from_pretrained("exported_dir")  # model.onnx + config.json
    >>> model(**processor(paths=["clip.mp4"])).logits  # (B, num_labels), as the PyTorch model returns them

A folder written by `av_emotion.export.export_onnx_folder` (or `av-emotion export DIR --onnx-dir OUT`) holds
`model.onnx`, the model's `config.json` and its processor, so `pipeline("audio-video-emotion", model=OUT)` and
`av-emotion predict --model OUT` load it like a PyTorch checkpoint: the pipeline's model loader
(`AutoModelForAudioVideoEmotion`) returns this class for a folder that has `model.onnx` and no PyTorch weights.
The pipeline's preprocessing and postprocessing are the same code for both; only the forward differs.

What the wrapper adds to a bare `onnxruntime.InferenceSession`:

- inputs as the PyTorch model takes them: torch tensors or numpy arrays, masks optional, `has_video` / `has_audio`
  folded into the masks, a modality left out (None) replaced by an all-False mask over zeros, the way the graph
  represents a missing modality;
- the range export proved (the `INPUT_RANGES_KEY` metadata of the file): a batch smaller than the graph's minimum
  is padded by repeating its last clip and the padding's logits are dropped; inputs outside what was exported
  (another frame count or frame size, another number of audio features, fewer audio frames than the model needs)
  raise a `ValueError` naming the file, the shapes and the fix;
- the output as `AVEmotionOutput(logits=...)` (a torch tensor), so code written for the PyTorch model runs.

The graph returns logits only: losses, embeddings, attentions and hidden states need the PyTorch model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from av_emotion.export.onnx import INPUT_NAMES, INPUT_RANGES_KEY, ONNX_FILE_NAME, OUTPUT_NAMES
from av_emotion.modeling.outputs import AVEmotionOutput

logger = logging.getLogger(__name__)

MISSING_ONNXRUNTIME = 'running an ONNX model needs onnxruntime: pip install "av-emotion[onnx]"'
# Files of a PyTorch checkpoint: a folder with any of them is loaded as PyTorch, not as ONNX.
PYTORCH_WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Range assumed for a file without `INPUT_RANGES_KEY` (exported before it was recorded): torch.export's own
# default for a dynamic dimension, batch >= 2 (the wrapper pads a batch of 1), audio length unchecked.
LEGACY_INPUT_RANGES = {"batch": [2, None], "audio_frames": [1, None]}
# Keyword arguments `pipeline()` and the Hub loaders pass along that mean nothing to an ONNX session.
_IGNORED_LOAD_KWARGS = ("_from_pipeline", "trust_remote_code", "code_revision", "device_map", "attn_implementation")


def import_onnxruntime():
    """Import onnxruntime, or raise an `ImportError` that names the extra to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(MISSING_ONNXRUNTIME) from error
    return onnxruntime


def is_onnx_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a local folder holding an exported `model.onnx` and no PyTorch weights."""
    folder = Path(path)
    if not folder.is_dir() or not (folder / ONNX_FILE_NAME).is_file():
        return False
    return not any((folder / name).is_file() for name in PYTORCH_WEIGHTS_FILES)


def _as_array(value: Any, dtype: np.dtype, name: str) -> np.ndarray | None:
    """Return a torch tensor, numpy array or nested list as a contiguous numpy array of `dtype` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.float().numpy() if value.is_floating_point() else value.numpy()
    array = np.asarray(value)
    if dtype == np.bool_ and array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a bool (or 0/1 integer) tensor, got dtype {array.dtype}")
    return np.ascontiguousarray(array.astype(dtype, copy=False))


class ORTModelForAudioVideoEmotion:
    """An exported av_emotion model (classification or regression head) run by onnxruntime.

    Load with `from_pretrained(folder_or_repo_id)`; call like the PyTorch model (`forward` below). The pipeline uses
    it for a folder with `model.onnx` and no PyTorch weights, so every postprocessing option (top_k, windows,
    regression outputs, what the model saw) works unchanged.

    Attributes:
        config: The model's `PreTrainedConfig` (labels, head type, geometry), loaded from `config.json`.
        session: The `onnxruntime.InferenceSession`.
        model_path: The ONNX file the session was created from.
        input_ranges: `{"batch": [min, max], "audio_frames": [min, max]}` the graph accepts (max None: unbounded),
            from the file's metadata.
    """

    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "audio")
    # A pipeline or Trainer looking for PyTorch-only features finds none.
    supports_gradient_checkpointing = False

    def __init__(
        self,
        model_path: str | os.PathLike,
        config: Any,
        providers: list[Any] | None = None,
        session_options: Any = None,
    ):
        onnxruntime = import_onnxruntime()
        self.model_path = Path(model_path)
        self.config = config
        self.session_options = session_options
        self.providers = list(providers or ["CPUExecutionProvider"])
        self.session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=session_options, providers=self.providers
        )
        self._device = torch.device("cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu")
        self._temporary_directory: tempfile.TemporaryDirectory | None = None
        inputs = {item.name: item for item in self.session.get_inputs()}
        missing = [name for name in INPUT_NAMES if name not in inputs]
        if missing:
            raise ValueError(
                f"{self.model_path}: the graph lacks the inputs {missing}; export it with `av-emotion export` "
                f"(inputs {list(INPUT_NAMES)})"
            )
        # Static dimensions: (frames, channels, height, width) of a clip, and the audio features per frame.
        self.video_shape = tuple(inputs["pixel_values_videos"].shape[1:])
        self.num_audio_features = inputs["input_features"].shape[1]
        metadata = self.session.get_modelmeta().custom_metadata_map
        if INPUT_RANGES_KEY in metadata:
            self.input_ranges = json.loads(metadata[INPUT_RANGES_KEY])
        else:
            logger.warning(
                "%s has no %s metadata (exported by an older av_emotion): assuming batch >= 2 and not checking "
                "the audio length; re-export it with `av-emotion export` to record the range",
                self.model_path,
                INPUT_RANGES_KEY,
            )
            self.input_ranges = dict(LEGACY_INPUT_RANGES)

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        model_id: str | os.PathLike,
        *,
        file_name: str = ONNX_FILE_NAME,
        export: bool = False,
        config: Any = None,
        provider: str = "CPUExecutionProvider",
        session_options: Any = None,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        cache_dir: str | os.PathLike | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> ORTModelForAudioVideoEmotion:
        """Load `file_name` and `config.json` from a local folder or a Hub repo id.

        Args:
            model_id: A folder written by `export_onnx_folder` / `save_pretrained`, or a Hub repo id holding
                the same files.
            file_name: The ONNX file in that folder or repo.
            export: `model_id` is a PyTorch checkpoint (written by `save_pretrained` of an av_emotion model):
                export it now (`export_onnx`, with its parity check) into a temporary folder and load that.
            config: The config, when already loaded (otherwise read from `config.json`).
            provider: onnxruntime execution provider, e.g. `"CUDAExecutionProvider"` (needs onnxruntime-gpu).
            session_options: An `onnxruntime.SessionOptions`.
            revision: Hub revision, as for `transformers` `from_pretrained`.
            token: Hub token.
            local_files_only: Do not download (as `HF_HUB_OFFLINE=1`).
            cache_dir: Hub cache folder.
            dtype: Only float32 (or None/"auto"): the graph is exported in float32.
            **kwargs: What `pipeline()` passes along (`trust_remote_code`, ...), ignored; anything else is a
                `TypeError`.
        """
        import_onnxruntime()
        from transformers import AutoConfig
        from transformers.utils import cached_file

        for name in _IGNORED_LOAD_KWARGS:
            kwargs.pop(name, None)
        if kwargs:
            raise TypeError(f"ORTModelForAudioVideoEmotion.from_pretrained got unexpected arguments {sorted(kwargs)}")
        if dtype not in (None, "auto", "float32", torch.float32):
            raise ValueError(f"{model_id}: the ONNX graph runs in float32; drop dtype={dtype!r}")
        hub_kwargs = {
            "revision": revision,
            "token": token,
            "local_files_only": local_files_only,
            "cache_dir": cache_dir,
        }
        if config is None or isinstance(config, (str, os.PathLike)):
            config = AutoConfig.from_pretrained(str(config or model_id), **hub_kwargs)
        if export:
            from av_emotion.export.onnx import export_onnx

            temporary = tempfile.TemporaryDirectory(prefix="av_emotion_onnx_")
            path = Path(temporary.name) / ONNX_FILE_NAME
            export_onnx(str(model_id), path)
            model = cls(path, config, providers=[provider], session_options=session_options)
            model._temporary_directory = temporary  # removed with the model
            return model
        folder = Path(model_id)
        if folder.is_dir():
            path = folder / file_name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{folder}: no {file_name}; export the PyTorch model first "
                    f"(`av-emotion export {folder} --onnx-dir OUT`) or pass export=True"
                )
        else:
            path = cached_file(str(model_id), file_name, **hub_kwargs)
        return cls(path, config, providers=[provider], session_options=session_options)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write `model.onnx` and `config.json` to `save_directory` (the processor is saved by the processor)."""
        import shutil

        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / ONNX_FILE_NAME
        if target.resolve() != self.model_path.resolve():
            shutil.copyfile(self.model_path, target)
        self.config.save_pretrained(str(directory))

    # ------------------------------------------------------------------ what a pipeline asks of a model
    @property
    def device(self) -> torch.device:
        """Where the session runs: `cpu`, or `cuda` with onnxruntime's CUDA execution provider."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The graph's float type (float32)."""
        return torch.float32

    def to(self, device: Any) -> ORTModelForAudioVideoEmotion:
        """Run on `device`: the CPU, or a GPU when onnxruntime has its CUDA provider (else stay on the CPU, warned)."""
        device = torch.device(device if not isinstance(device, int) else f"cuda:{device}")
        if device.type == self._device.type:
            return self
        onnxruntime = import_onnxruntime()
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                logger.warning(
                    "%s: onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu); running on the CPU",
                    self.model_path,
                )
                return self
            providers: list[Any] = [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        elif device.type == "cpu":
            providers = ["CPUExecutionProvider"]
        else:
            raise ValueError(f"{self.model_path}: onnxruntime runs on the CPU or CUDA, not {device}; pass device='cpu'")
        self.session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=self.session_options, providers=providers
        )
        self.providers = providers
        self._device = torch.device(device.type)
        return self

    def eval(self) -> ORTModelForAudioVideoEmotion:
        """No-op (an inference graph has no training mode); returns self."""
        return self

    def can_generate(self) -> bool:
        """Return False: a classifier does not generate."""
        return False

    # ------------------------------------------------------------------ forward
    def _range(self, name: str) -> tuple[int, int | None]:
        low, high = self.input_ranges.get(name, [1, None])
        return max(int(low), 1), None if high is None else int(high)

    def _check_static(self, name: str, got: tuple[int, ...], expected: tuple[Any, ...], what: str) -> None:
        if len(got) != len(expected) or any(
            isinstance(want, int) and size != want for size, want in zip(got, expected)
        ):
            raise ValueError(
                f"{self.model_path}: {name} has shape (batch, {', '.join(map(str, got))}), but the graph was "
                f"exported for (batch, {', '.join(map(str, expected))}) ({what}); prepare the inputs with the "
                "processor saved with the model (AutoProcessor.from_pretrained on the exported folder)"
            )

    @staticmethod
    def _fold_flag(
        mask: np.ndarray | None, flag: Any, values: np.ndarray | None, time_axis: int, batch: int, name: str
    ) -> np.ndarray | None:
        present = _as_array(flag, np.bool_, name)
        if present is None or values is None:
            return mask
        if present.shape != (batch,):
            raise ValueError(f"{name} must be (batch,) = ({batch},) bool, got {tuple(present.shape)}")
        if mask is None:
            mask = np.ones((batch, values.shape[time_axis]), dtype=np.bool_)
        return mask & present[:, None]

    def _video(
        self, pixel_values_videos: np.ndarray | None, video_mask: np.ndarray | None, batch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if pixel_values_videos is None:
            if video_mask is not None and video_mask.any():
                raise ValueError("video_mask marks valid frames but pixel_values_videos is None")
            # The graph's representation of "no video": zeros under an all-False mask (what the processor returns
            # for a clip without video).
            shape = tuple(size if isinstance(size, int) else 1 for size in self.video_shape)
            return np.zeros((batch, *shape), dtype=np.float32), np.zeros((batch, shape[0]), dtype=np.bool_)
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "pixel_values_videos must be (batch, frames, channels, height, width), got "
                f"{tuple(pixel_values_videos.shape)}"
            )
        self._check_static(
            "pixel_values_videos", pixel_values_videos.shape[1:], self.video_shape, "frames, channels, height, width"
        )
        expected = (batch, pixel_values_videos.shape[1])
        if video_mask is None:
            video_mask = np.ones(expected, dtype=np.bool_)
        elif video_mask.shape != expected:
            raise ValueError(f"video_mask must be (batch, frames) = {expected}, got {tuple(video_mask.shape)}")
        return pixel_values_videos, video_mask

    def _audio(
        self, input_features: np.ndarray | None, audio_mask: np.ndarray | None, batch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        low, high = self._range("audio_frames")
        features = self.num_audio_features if isinstance(self.num_audio_features, int) else 1
        if input_features is not None and input_features.ndim != 3:
            raise ValueError(f"input_features must be (batch, features, frames), got {tuple(input_features.shape)}")
        if input_features is not None:
            self._check_static("input_features", input_features.shape[1:2], (self.num_audio_features,), "features")
            length = input_features.shape[-1]
            if audio_mask is None:
                audio_mask = np.ones((batch, length), dtype=np.bool_)
            elif audio_mask.shape != (batch, length):
                raise ValueError(
                    f"audio_mask must be (batch, frames) = {(batch, length)}, got {tuple(audio_mask.shape)}"
                )
            if length < low and not audio_mask.any():
                # Only padding (every clip lacks audio): the graph's "no audio" below, as the PyTorch model does.
                input_features = None
        if input_features is None:
            if audio_mask is not None and audio_mask.any():
                raise ValueError("audio_mask marks valid frames but input_features is None")
            return np.zeros((batch, features, low), dtype=np.float32), np.zeros((batch, low), dtype=np.bool_)
        length = input_features.shape[-1]
        if length < low:
            raise ValueError(
                f"{self.model_path}: input_features has {length} audio frames, fewer than the {low} the exported model "
                "needs; pass a longer clip, or pad it and mark the padding False in audio_mask"
            )
        if high is not None and length > high:
            raise ValueError(
                f"{self.model_path}: input_features has {length} audio frames, more than the {high} the graph was "
                "exported for; cut the clip into windows (the pipeline's window_s) or re-export"
            )
        return input_features, audio_mask

    def forward(
        self,
        pixel_values_videos: torch.Tensor | np.ndarray | None = None,
        input_features: torch.Tensor | np.ndarray | None = None,
        video_mask: torch.Tensor | np.ndarray | None = None,
        audio_mask: torch.Tensor | np.ndarray | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
        return_dict: bool = True,
        has_video: torch.Tensor | np.ndarray | None = None,
        has_audio: torch.Tensor | np.ndarray | None = None,
        face_found: torch.Tensor | np.ndarray | None = None,
        output_embeddings: bool = False,
        output_hidden_states: bool | None = None,
    ) -> AVEmotionOutput | tuple[torch.Tensor]:
        """Run the graph on a batch of clips; inputs as the PyTorch model's `forward` takes them.

        Args:
            pixel_values_videos: `(B, T, C, H, W)` float, T, C, H, W as exported (the processor's); or None.
            input_features: `(B, F, L)` float audio features, F as exported, L within the exported range; or None.
            video_mask: `(B, T)` bool, True where a frame is real (default all True).
            audio_mask: `(B, L)` bool, True where an audio frame is real (default all True).
            labels: Not available from the graph (it returns logits only): a `ValueError` says to use the PyTorch
                model. So are `output_attentions`, `output_embeddings` and `output_hidden_states`.
            output_attentions: See `labels`.
            return_dict: Return an `AVEmotionOutput` (default) or a tuple.
            has_video: `(B,)` bool presence flag from the processor, folded into `video_mask`.
            has_audio: `(B,)` bool presence flag from the processor, folded into `audio_mask`.
            face_found: Accepted (the processor returns it) and unused, as by the PyTorch model.
            output_embeddings: See `labels`.
            output_hidden_states: See `labels`.

        Returns:
            `AVEmotionOutput` with `logits` `(B, num_labels)` float32 on the CPU, or `(logits,)` with
            `return_dict=False`.
        """
        asked = [
            name
            for name, value in (
                ("labels", labels),
                ("output_attentions", output_attentions),
                ("output_embeddings", output_embeddings),
                ("output_hidden_states", output_hidden_states),
            )
            if value is not None and value is not False
        ]
        if asked:
            raise ValueError(
                f"{self.model_path}: the ONNX graph returns logits only, not {asked}; load the PyTorch model "
                "(AutoModelForAudioVideoClassification) for losses, embeddings, attentions or hidden states"
            )
        video = _as_array(pixel_values_videos, np.float32, "pixel_values_videos")
        audio = _as_array(input_features, np.float32, "input_features")
        if video is None and audio is None:
            raise ValueError("the model needs pixel_values_videos, input_features, or both; got neither")
        batch = (video if video is not None else audio).shape[0]
        if video is not None and audio is not None and audio.shape[0] != batch:
            raise ValueError(f"pixel_values_videos has {batch} clips but input_features has {audio.shape[0]}")
        video_mask = _as_array(video_mask, np.bool_, "video_mask")
        audio_mask = _as_array(audio_mask, np.bool_, "audio_mask")
        # The presence flags clear the mask rows of clips without that modality (as `fold_presence_flags` does in
        # PyTorch); a flag for a modality that was not passed has nothing to act on.
        video_mask = self._fold_flag(video_mask, has_video, video, 1, batch, "has_video")
        audio_mask = self._fold_flag(audio_mask, has_audio, audio, -1, batch, "has_audio")
        video, video_mask = self._video(video, video_mask, batch)
        audio, audio_mask = self._audio(audio, audio_mask, batch)
        feed = {
            "pixel_values_videos": video,
            "input_features": audio,
            "video_mask": video_mask,
            "audio_mask": audio_mask,
        }
        low, high = self._range("batch")
        if high is not None and batch > high:
            raise ValueError(
                f"{self.model_path}: a batch of {batch} clips, more than the {high} the graph was exported for; "
                f"pass batch_size <= {high}"
            )
        if batch < low:
            # The graph was exported for larger batches (torch.export specialises a size-1 batch): repeat the last
            # clip; clips are independent in eval mode, so the real rows are unchanged, and the copies are dropped.
            feed = {
                name: np.concatenate([value, np.repeat(value[-1:], low - batch, axis=0)])
                for name, value in feed.items()
            }
        (logits,) = self.session.run(list(OUTPUT_NAMES), feed)
        logits = torch.from_numpy(np.ascontiguousarray(logits[:batch]))
        if not return_dict:
            return (logits,)
        return AVEmotionOutput(logits=logits)

    __call__ = forward

    def __repr__(self) -> str:
        """Class, file and execution providers."""
        return f"{type(self).__name__}({self.model_path}, providers={self.session.get_providers()})"


__all__ = ["MISSING_ONNXRUNTIME", "ORTModelForAudioVideoEmotion", "import_onnxruntime", "is_onnx_folder"]
