"""What the web demo runs for one upload, without Gradio: checks, the pipeline, and what the page shows.

`DemoModel` loads `pipeline("audio-video-emotion")` once and answers one upload at a time (a lock per model: on a
CPU, two inferences side by side only slow each other down; the Gradio queue in `app` keeps the others waiting).
For each upload it

1. probes the file against the demo's `MediaLimits` (`DEMO_LIMITS` unless given) before decoding anything, so a
   text file renamed `.mp4`, a two-hour video or an 8K file gets the processor's `MediaError` message at once;
2. runs the pipeline window by window, exactly as `pipeline(path, window_s=..., stride_s=...)` does (its own
   `preprocess`, `forward` and `postprocess`), keeping from each window a thumbnail of the face crops the model
   saw (`pixel_values_videos` turned back into pixels) and whether a face was found;
3. returns a `DemoResult`: the aggregate scores, the timeline, the crops, the modalities used and notes.

A missing modality never fails an upload: a video without an audio track, or whose track is digital silence (the
processor's `silence_threshold` treats it as missing), runs on the frames alone and an audio file on the sound alone
(the page says so); the models take either branch alone (DESIGN.md section 3).
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from av_emotion.pipelines.audio_video_emotion import DEFAULT_REGRESSION_NAMES, DETAIL_KEYS, NoFaceWarning
from av_emotion.processing.media import MediaInfo, MediaLimits, probe_media, sample_frame_times
from av_emotion.processing.processor import SilentAudioWarning

__all__ = ["DEMO_LIMITS", "DemoModel", "DemoResult", "model_card_limitations", "user_message"]

DEMO_LIMITS = MediaLimits(max_duration_s=300.0, max_file_bytes=256 * 1024**2)
"""Limits of a public demo on a CPU (our choice; every other limit is the processor's default, e.g. DCI 4K frames,
so an 8K video is refused). 5 minutes: at the default stride a paper-size model takes about as long as the video on
2 CPU cores (benchmarks/README.md: 1.44 s per 3.6-s window), so a visitor waits at most a few minutes, and others in
the queue too. 256 MB: a 5-minute 1080p phone video is 100-200 MB. Gradio refuses a larger upload before it lands."""

MAX_WINDOWS = 400
"""Most windows one upload may ask for (duration / stride). Our choice: 5 minutes at a 0.75-s stride; more only
makes the queue longer for everyone else."""

THUMBNAIL_SIZE = 96
"""Side of the crop thumbnails kept per window, pixels (our choice: small enough that 400 windows x 16 frames
stay under 200 MB, large enough to see whether a face is in view)."""

LIMITATIONS_HEADING = "## Limitations and risks"


@dataclass
class DemoCrop:
    """One frame the model saw: its thumbnail, its time in the file and whether a face was tracked in its window."""

    image: np.ndarray
    time_s: float
    face_found: bool | None

    @property
    def caption(self) -> str:
        """Short text under the thumbnail: the time, and a warning where the face detector found nothing."""
        if self.face_found is False:
            return f"{self.time_s:.1f} s: no face, centre crop"
        return f"{self.time_s:.1f} s"


@dataclass
class DemoResult:
    """What the page shows for one upload.

    Attributes:
        result: The pipeline's windowed output, `{"timeline": [...], "aggregate": ...}` (see
            `AudioVideoEmotionPipeline.postprocess`).
        info: What the file holds (`MediaInfo`), from the probe.
        used_video: Whether the model ran its video branch (the file has a video stream).
        used_audio: Whether the model ran its audio branch in some window (the file has an audio track that is not
            digital silence throughout).
        crops: Every frame the model saw, in time order (`DemoCrop`), empty without video.
        windows_without_face: How many windows had no face detected (their crops are centre crops).
        windows_with_silent_audio: How many windows had an audio track that is digital silence (the processor's
            `silence_threshold`): there the audio was treated as missing and the model ran on the frames alone.
        num_windows: How many windows the file was cut into.
        notes: Sentences for the page (missing modality, missed faces).
    """

    result: dict[str, Any]
    info: MediaInfo
    used_video: bool
    used_audio: bool
    crops: list[DemoCrop] = field(default_factory=list)
    windows_without_face: int = 0
    windows_with_silent_audio: int = 0
    num_windows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def is_regression(self) -> bool:
        """Whether the model gives valence/arousal rather than emotion scores."""
        return isinstance(self.result["aggregate"], dict)

    @property
    def top(self) -> dict[str, float]:
        """Aggregate scores by label (classification) or valence/arousal values (regression), highest first.

        Empty (classification) or None values (regression) when every window abstained (`min_face_fraction`).
        """
        aggregate = self.result["aggregate"]
        if isinstance(aggregate, dict):
            return dict(aggregate)
        return {item["label"]: float(item["score"]) for item in aggregate}

    @property
    def modalities(self) -> str:
        """Which branches ran, in words."""
        if self.used_video and self.used_audio:
            if self.windows_with_silent_audio:
                return "video and audio (video only where the audio track is silent)"
            return "video and audio"
        if self.used_video:
            return (
                "video only (the audio track is silent)"
                if self.windows_with_silent_audio
                else "video only (no audio track)"
            )
        return "audio only (no video stream)"

    def strip(self, max_frames: int = 16) -> list[DemoCrop]:
        """Up to `max_frames` crops in time order, spread evenly over the file (overlapping windows interleave)."""
        crops = sorted(self.crops, key=lambda crop: crop.time_s)
        if len(crops) <= max_frames:
            return crops
        indices = np.linspace(0, len(crops) - 1, max_frames).round().astype(int)
        return [crops[index] for index in indices]

    def timeline_rows(self) -> list[dict[str, Any]]:
        """One row per window and label: `{"time": window centre (s), "label": name, "score": value}`."""
        rows = []
        for entry in self.result["timeline"]:
            centre = (entry["start"] + entry["end"]) / 2
            if "labels" in entry:
                rows += [{"time": centre, "label": item["label"], "score": item["score"]} for item in entry["labels"]]
            else:
                rows += [
                    {"time": centre, "label": name, "score": value}
                    for name, value in entry.items()
                    if name not in ("start", "end", *DETAIL_KEYS)
                ]
        return rows


def user_message(error: BaseException, source: str | Path | None = None, display_name: str | None = None) -> str:
    """Return the text the page shows for a failed upload: the processor's message, worded for a visitor.

    The server-side path of the upload (a temporary folder) is replaced by the name the visitor gave the file, and a
    library hint to raise a `MediaLimits` field (which a visitor cannot do) by what they can do.
    """
    message = str(error).strip() or type(error).__name__
    if source is not None and display_name:
        message = message.replace(str(source), display_name)
    message = re.sub(
        r"if the (?:file|input) is trusted, pass limits=MediaLimits\([a-z_]+=\.\.\.\)",
        "this demo accepts no more (run `av-emotion predict` on your own machine for larger files)",
        message,
    )
    return message


def _card_section(card_text: str, heading: str = LIMITATIONS_HEADING) -> str | None:
    """Return the body of the `heading` section of a Markdown card (up to the next `## ` heading), or None."""
    start = card_text.find(heading)
    if start < 0:
        return None
    body = card_text[start + len(heading) :]
    following = re.search(r"^## ", body, flags=re.MULTILINE)
    return (body[: following.start()] if following else body).strip() or None


def model_card_limitations(model: str | Path) -> str:
    """Return the "Limitations and risks" section of a model's card, as Markdown.

    A local folder: its `README.md`, or, without one (a model saved without a card), the card `render_model_card`
    would write, built in memory. A Hub repo id: its `README.md` (downloaded, or from the cache). Where neither
    gives the section, a short notice that the card has none.
    """
    path = Path(model)
    text: str | None = None
    if path.is_dir():
        card = path / "README.md"
        if card.is_file():
            text = card.read_text(encoding="utf-8")
        else:
            try:
                from av_emotion.hub.model_card import build_model_card

                text = str(build_model_card(path, plot_relations=False))
            except (OSError, ValueError, KeyError, ImportError):
                text = None
    else:
        try:
            from huggingface_hub import hf_hub_download

            text = Path(hf_hub_download(str(model), "README.md")).read_text(encoding="utf-8")
        except Exception:  # noqa: BLE001  (offline, no card, no access: the page still works)
            text = None
    section = _card_section(text) if text else None
    if section is None:
        return (
            f'The model card of `{model}` has no limitations section. Read an output as "this clip resembles the '
            'training clips labelled X", never as "this person feels X", and do not use it to make decisions about '
            "people."
        )
    return section


def _denormalize(pixels: Any, video_processor: Any) -> np.ndarray:
    """`(T, 3, H, W)` float processor output back to `(T, H, W, 3)` uint8 pixels (inverse of normalise, rescale)."""
    frames = pixels.detach().float().cpu().numpy()
    if getattr(video_processor, "do_normalize", False):
        mean = np.asarray(video_processor.image_mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(video_processor.image_std, dtype=np.float32).reshape(1, -1, 1, 1)
        frames = frames * std + mean
    if getattr(video_processor, "do_rescale", False):
        frames = frames / float(video_processor.rescale_factor)
    return np.clip(frames.round(), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _thumbnail(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Scale an `(H, W, 3)` image so its longer side is at most `size` pixels (never up)."""
    import cv2

    height, width = image.shape[:2]
    scale = size / max(height, width)
    if scale >= 1:
        return np.ascontiguousarray(image)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, target, interpolation=cv2.INTER_AREA)


class DemoModel:
    """A model loaded once for the demo; `analyse(path)` answers one upload at a time.

    Args:
        model: A local model folder or a Hub repo id (with its saved processor).
        device: As `pipeline(device=...)`; default the first GPU when there is one, else the CPU.
        limits: Upload limits (default `DEMO_LIMITS`).
        min_face_fraction: Abstain in windows where fewer than this share of the sampled frames had a face (the
            pipeline's `min_face_fraction`; default None: always predict, and say where no face was found).
    """

    def __init__(
        self,
        model: str | Path,
        device: Any = None,
        limits: MediaLimits | None = None,
        min_face_fraction: float | None = None,
    ) -> None:
        from transformers import pipeline

        import av_emotion  # noqa: F401  (registers the pipeline)

        self.model_id = str(model)
        self.limits = limits or DEMO_LIMITS
        self.min_face_fraction = min_face_fraction
        self.pipeline = pipeline("audio-video-emotion", model=self.model_id, device=device)
        self.limitations = model_card_limitations(model)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Short name for the page title: the repo id, or a local folder's name."""
        path = Path(self.model_id)
        return path.resolve().name if path.is_dir() else self.model_id

    @property
    def model_type(self) -> str:
        """The architecture (`config.model_type`)."""
        return str(self.pipeline.model.config.model_type)

    @property
    def labels(self) -> list[str]:
        """The emotions the model names (classification), or the regression outputs."""
        config = self.pipeline.model.config
        if self.pipeline.is_regression:
            return list(getattr(config, "regression_targets", None) or DEFAULT_REGRESSION_NAMES)
        return [config.id2label[index] for index in sorted(config.id2label)]

    @property
    def default_window_s(self) -> float:
        """Window the saved processor uses for long videos, seconds."""
        return float(self.pipeline.processor.effective_window_s)

    @property
    def default_stride_s(self) -> float:
        """Hop between windows the saved processor uses for long videos, seconds."""
        return float(self.pipeline.processor.effective_window_stride_s)

    def check_upload(self, source: str | Path, window_s: float, stride_s: float) -> MediaInfo:
        """Probe `source` against the limits and check the window settings; returns its `MediaInfo`.

        Raises:
            MediaError: the file breaks a limit or is not media (the processor's message).
            ValueError: window or stride not positive, or too many windows for the demo.
        """
        if not window_s > 0 or not stride_s > 0:
            raise ValueError(f"window and stride must be positive seconds, got {window_s} and {stride_s}")
        info = probe_media(str(source), self.limits)
        windows = max(1.0, (info.duration_s - window_s) / stride_s + 1)
        if windows > MAX_WINDOWS:
            raise ValueError(
                f"{source}: {info.duration_s:.0f} s at a {stride_s:g}-s stride makes {windows:.0f} windows, above the "
                f"demo's {MAX_WINDOWS}; choose a stride of at least {info.duration_s / MAX_WINDOWS:.1f} s"
            )
        return info

    def analyse(self, source: str | Path, window_s: float | None = None, stride_s: float | None = None) -> DemoResult:
        """Predict the emotions of one file window by window; see the module docstring.

        Raises:
            MediaError, ValueError: as `check_upload`, or a file that fails while it is decoded (truncated).
        """
        window_s = float(window_s or self.default_window_s)
        stride_s = float(stride_s or self.default_stride_s)
        info = self.check_upload(source, window_s, stride_s)
        pipe = self.pipeline
        params = {
            "allow_missing_audio": not info.has_audio,
            "allow_missing_video": not info.has_video,
            "window_s": window_s,
            "stride_s": stride_s,
        }
        crops: list[DemoCrop] = []
        outputs = []
        without_face = 0
        silent = 0
        with self._lock, warnings.catch_warnings():
            # The page says what these warnings would (the notes below); the server log need not repeat it per upload.
            warnings.simplefilter("ignore", SilentAudioWarning)
            warnings.simplefilter("ignore", NoFaceWarning)
            # The pipeline's own steps for one input (Pipeline.run_single of a ChunkPipeline), so the scores are the
            # pipeline's; each window's model inputs are at hand for the thumbnails.
            for chunk in pipe.preprocess(str(source), **params):
                found = chunk.get("face_found")
                face_found = None if found is None else bool(found[0])
                if info.has_video:
                    without_face += face_found is False
                    crops += self._crops(chunk, face_found)
                if info.has_audio:
                    silent += not bool(chunk["has_audio"][0])
                outputs.append(pipe.forward(chunk))
            details = {} if self.min_face_fraction is None else {"min_face_fraction": self.min_face_fraction}
            result = pipe.postprocess(outputs, **details)
        notes = []
        if not info.has_audio:
            notes.append("The file has no audio track: the model ran on the frames alone.")
        if not info.has_video:
            notes.append("The file has no video stream: the model ran on the sound alone.")
        if silent:
            notes.append(
                f"The audio track is silent in {silent} of {len(outputs)} windows: there the model ran on the frames "
                "alone (digital silence is treated as a missing audio track)."
            )
        abstained = sum(bool(entry.get("abstained")) for entry in result["timeline"])
        if abstained:
            notes.append(
                f"No prediction in {abstained} of {len(outputs)} windows: fewer than {self.min_face_fraction:.0%} of "
                "their frames showed a face."
            )
        if without_face:
            notes.append(
                f"No face was found in {without_face} of {len(outputs)} windows: the model saw the centre of the "
                "frame there (marked below), so those scores rest on the voice and whatever was in view."
            )
        return DemoResult(
            result=result,
            info=info,
            used_video=info.has_video,
            used_audio=info.has_audio and silent < len(outputs),
            crops=crops,
            windows_without_face=without_face,
            windows_with_silent_audio=silent,
            num_windows=len(outputs),
            notes=notes,
        )

    def _crops(self, chunk: dict[str, Any], face_found: bool | None) -> list[DemoCrop]:
        """Thumbnails of the frames of one window the model saw (masked padding left out), with their times."""
        pixels = chunk["pixel_values_videos"][0]
        mask = chunk.get("video_mask")
        if mask is not None:
            pixels = pixels[mask[0].bool()]
        if len(pixels) == 0:
            return []
        images = _denormalize(pixels, self.pipeline.processor.video_processor)
        times = sample_frame_times(len(images), float(chunk["start"]), float(chunk["end"]))
        return [DemoCrop(_thumbnail(image), float(time), face_found) for image, time in zip(images, times)]
