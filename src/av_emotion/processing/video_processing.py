"""`AVEmotionVideoProcessor`: sampled frames to normalised face (or frame) tensors with a frame mask.

A `BaseVideoProcessor` subclass, so it saves, loads and registers like any `transformers` video processor, but
its pixel operations are plain torch (`F.interpolate` with antialiasing): `torchvision`, which the base class
would use, is not a dependency of av_emotion.

Pipeline per clip: sample `num_frames` frames uniformly (segment centres, as `media.sample_frame_times`) when more
are given; crop the tracked face (`faces.FaceCropper`) or resize the whole frame; optional centre crop; rescale to
[0, 1] and normalise with `image_mean` / `image_std`; pad to `num_frames` with zero frames that `video_mask` marks
False. A clip given as None (no video stream) becomes all-zero frames with an all-False mask and
`has_video=False`: never silently zero pixels that look real.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from transformers import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling, SizeDict
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor

from av_emotion.processing.faces import TRACKERS, FaceCropper, FaceResolutionFrameSize
from av_emotion.processing.media import FrameSize, FrameSizePolicy

__all__ = ["AVEmotionVideoProcessor", "AVEmotionVideoProcessorKwargs", "sample_frame_indices"]


class AVEmotionVideoProcessorKwargs(VideosKwargs, total=False):
    """Settings of `AVEmotionVideoProcessor` beyond the standard video ones (face cropping)."""

    do_face_crop: bool | None
    face_margin: float | None
    face_detection_width: int | None
    face_smoothing: float | None
    face_tracker: str | None
    face_redetect_every: int | None
    face_min_track_score: float | None
    face_decode_size: str | None
    return_face_fraction: bool | None


FACE_DECODE_SIZES = ("face", "full")

_INTERPOLATION = {
    PILImageResampling.NEAREST: "nearest",
    PILImageResampling.BILINEAR: "bilinear",
    PILImageResampling.BICUBIC: "bicubic",
}


def sample_frame_indices(num_available: int, num_frames: int) -> np.ndarray:
    """Return indices of `num_frames` frames sampled uniformly from `num_available` (segment centres).

    The same rule as `media.sample_frame_times`, on frame indices: index `floor((i + 0.5) * num_available /
    num_frames)`, so arrays and files are sampled alike.
    """
    return np.floor((np.arange(num_frames) + 0.5) * num_available / num_frames).astype(np.int64)


def _to_thwc_uint8(video: Any, index: int) -> np.ndarray:
    array = video.detach().cpu().numpy() if torch.is_tensor(video) else np.asarray(video)
    if array.ndim == 3:  # a single frame
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"video {index}: expected (frames, height, width, 3) or (frames, 3, height, width), got shape {array.shape}"
        )
    if array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        array = array.transpose(0, 2, 3, 1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != 3:
        raise ValueError(f"video {index}: expected 3 colour channels (RGB), got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0 and array.min() >= 0.0:
            array = array * 255.0  # floats in [0, 1]
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return array


class AVEmotionVideoProcessor(BaseVideoProcessor):
    r"""Turn clips of RGB frames into `pixel_values_videos` `(B, T, 3, H, W)` float32 and `video_mask` `(B, T)`.

    Args:
        num_frames: Frames per clip `T` (sampled uniformly when more are given, padded and masked when fewer;
            None keeps each clip's own count and pads the batch to the longest).
        do_sample_frames: Sample `num_frames` frames from longer arrays (files are always decoded at
            `num_frames`).
        do_face_crop: Crop the tracked largest face (`FaceCropper`); otherwise resize the whole frame.
        face_margin: Context around the detected face, fraction of its size on each side.
        face_detection_width: Width frames are downscaled to for face detection, pixels (our choice: 480; boxes
            within about 1% of the frame width of a full-resolution detection on the real samples).
        face_smoothing: Weight of the previous box when smoothing the face track, in [0, 1) (our choice: 0.5).
        face_tracker: How the face is followed between detections (`FaceCropper`'s `tracker`): `"template"`
            (default, our choice: the detector on the first frame, when the track is lost and every
            `face_redetect_every` frames, template matching in between; several times cheaper) or `"cascade"`
            (the detector on every frame: the behaviour before the tracker).
        face_redetect_every: With the template tracker, run the detector at least every this many frames (our
            choice: 16; 1 detects on every frame).
        face_min_track_score: With the template tracker, the normalised cross-correlation below which the track
            counts as lost and the detector runs (our choice: 0.6).
        face_decode_size: Size files' frames are converted at when cropping faces (`load_clip`, `iter_clips`):
            `"face"` (default, our choice) the smallest whole fraction of their size at which the face crop keeps
            the output's resolution, judged on each clip's first frame (`faces.FaceResolutionFrameSize`; a third or a
            quarter of 720p for 112-pixel crops of a RAVDESS face; each crop within about one grey level of the same
            box cut from full-size frames); `"full"` the file's own size (slower: the behaviour before). Arrays
            passed in are cropped at the size given.
        return_face_fraction: Also return `face_fraction` (with face cropping): off by default because the
            models' `forward` does not take it, and the processor's output goes straight into the model.
        size: Output size: `{"height": h, "width": w}`, or `{"shortest_edge": s}` (aspect kept; with a face crop
            the crop is `s` x `s`).
        do_resize: Resize frames (or face crops) to `size`.
        resample: Interpolation for resizing (`PILImageResampling.BILINEAR`, `BICUBIC` or `NEAREST`; bilinear
            and bicubic antialias when shrinking).
        do_center_crop: Centre-crop to `crop_size` after resizing.
        crop_size: `{"height": h, "width": w}` of the centre crop.
        do_rescale: Multiply by `rescale_factor` (1/255 maps uint8 to [0, 1]).
        do_normalize: Subtract `image_mean` and divide by `image_std`, per channel.
        image_mean: Per-channel mean (default ImageNet's).
        image_std: Per-channel standard deviation (default ImageNet's).
    """

    valid_kwargs = AVEmotionVideoProcessorKwargs
    model_input_names = ["pixel_values_videos", "video_mask"]

    num_frames = 16
    do_sample_frames = True
    do_face_crop = True
    face_margin = 0.2
    face_detection_width = 480
    face_smoothing = 0.5
    face_tracker = "template"
    face_redetect_every = 16
    face_min_track_score = 0.6
    face_decode_size = "face"
    return_face_fraction = False
    size = {"height": 112, "width": 112}
    default_to_square = True
    do_resize = True
    resample = PILImageResampling.BILINEAR
    do_center_crop = False
    crop_size = None
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_convert_rgb = True

    def __init__(self, **kwargs: Unpack[AVEmotionVideoProcessorKwargs]) -> None:
        super().__init__(**kwargs)

    # ---------------------------------------------------------------------------------------------------------
    # Settings
    # ---------------------------------------------------------------------------------------------------------

    def _resolved(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(self.valid_kwargs.__annotations__) - {"return_tensors"}
        if unknown:
            raise TypeError(
                f"unknown video processor settings {sorted(unknown)}; valid: {sorted(self.valid_kwargs.__annotations__)}"
            )
        settings = {key: getattr(self, key, None) for key in self.valid_kwargs.__annotations__}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        settings = self._standardize_kwargs(**settings)
        return settings

    def face_cropper(self, **overrides: Any) -> FaceCropper:
        """Build the `FaceCropper` these settings describe (per call: it holds no state worth keeping)."""
        settings = self._resolved(overrides)
        if settings["face_tracker"] not in TRACKERS:
            raise ValueError(
                f"face_tracker must be one of {TRACKERS} ('template': detect, then follow the face by template "
                f"matching; 'cascade': detect on every frame), got {settings['face_tracker']!r}"
            )
        return FaceCropper(
            margin=settings["face_margin"],
            output_size=self._face_output_size(settings["size"]),
            detection_width=settings["face_detection_width"],
            smoothing=settings["face_smoothing"],
            tracker=settings["face_tracker"],
            redetect_every=settings["face_redetect_every"],
            min_track_score=settings["face_min_track_score"],
        )

    @staticmethod
    def _face_output_size(size: SizeDict) -> tuple[int, int]:
        if size.height and size.width:
            return int(size.height), int(size.width)
        if size.shortest_edge:
            return int(size.shortest_edge), int(size.shortest_edge)
        raise ValueError(f"face crops need size={{'height', 'width'}} or {{'shortest_edge'}}, got {dict(size)}")

    def decoding_frame_size(self, **overrides: Any) -> FrameSize | FrameSizePolicy:
        """Frame size to ask `media.decode_clip` for: scaling while converting is cheaper than resizing after.

        With a face crop, a `FaceResolutionFrameSize` that keeps the face at the output's resolution
        (`face_decode_size="face"`), or None (full size, `"full"`); otherwise the size this processor resizes to,
        so its own resize becomes a no-op.
        """
        settings = self._resolved(overrides)
        if settings["do_face_crop"]:
            if settings["face_decode_size"] not in FACE_DECODE_SIZES:
                raise ValueError(
                    f"face_decode_size must be one of {FACE_DECODE_SIZES} ('face': frames converted at the smallest "
                    f"size that keeps the face crop's resolution; 'full': the file's own size), got "
                    f"{settings['face_decode_size']!r}"
                )
            return (
                FaceResolutionFrameSize(self.face_cropper(**overrides))
                if settings["face_decode_size"] == "face"
                else None
            )
        if not settings["do_resize"]:
            return None
        size: SizeDict = settings["size"]
        if size.height and size.width:
            return int(size.height), int(size.width)
        if size.shortest_edge:
            return int(size.shortest_edge)
        return None

    # ---------------------------------------------------------------------------------------------------------
    # Pixel operations (torch only)
    # ---------------------------------------------------------------------------------------------------------

    @staticmethod
    def _output_size(height: int, width: int, size: SizeDict) -> tuple[int, int]:
        if size.height and size.width:
            return int(size.height), int(size.width)
        if size.shortest_edge:
            scale = size.shortest_edge / min(height, width)
            return max(1, round(height * scale)), max(1, round(width * scale))
        raise ValueError(f"size must have 'height' and 'width', or 'shortest_edge'; got {dict(size)}")

    def resize_frames(self, frames: torch.Tensor, size: SizeDict, resample: Any = None) -> torch.Tensor:
        """Resize `(T, 3, H, W)` frames (any dtype) to `size`; returns float32 in the input's value range."""
        height, width = frames.shape[-2:]
        out_h, out_w = self._output_size(height, width, size)
        frames = frames.to(torch.float32)
        if (out_h, out_w) == (height, width):
            return frames
        mode = _INTERPOLATION.get(PILImageResampling(resample) if resample is not None else None, "bilinear")
        if mode == "nearest":
            return F.interpolate(frames, size=(out_h, out_w), mode="nearest")
        resized = F.interpolate(frames, size=(out_h, out_w), mode=mode, align_corners=False, antialias=True)
        return resized.clamp_(0.0, 255.0) if mode == "bicubic" else resized

    @staticmethod
    def center_crop_frames(frames: torch.Tensor, crop_size: SizeDict) -> torch.Tensor:
        """Centre-crop `(T, 3, H, W)` frames to `crop_size`; frames smaller than the crop are zero-padded."""
        height, width = frames.shape[-2:]
        out_h, out_w = int(crop_size.height), int(crop_size.width)
        if out_h > height or out_w > width:
            pad_h, pad_w = max(0, out_h - height), max(0, out_w - width)
            frames = F.pad(frames, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
            height, width = frames.shape[-2:]
        top, left = (height - out_h) // 2, (width - out_w) // 2
        return frames[..., top : top + out_h, left : left + out_w]

    # ---------------------------------------------------------------------------------------------------------
    # Preprocessing
    # ---------------------------------------------------------------------------------------------------------

    @staticmethod
    def _as_list(videos: Any) -> list[Any]:
        if videos is None:
            return [None]
        if isinstance(videos, (np.ndarray, torch.Tensor)):
            if videos.ndim == 5:
                return list(videos)
            return [videos]
        if isinstance(videos, (list, tuple)):
            return list(videos)
        raise TypeError(f"videos must be an array, a tensor or a list of them, got {type(videos).__name__}")

    def preprocess(self, videos: Any, **kwargs: Unpack[AVEmotionVideoProcessorKwargs]) -> BatchFeature:
        """Process one clip or a batch of clips.

        Args:
            videos: A `(T, H, W, 3)` (or `(T, 3, H, W)`) uint8 RGB array or tensor, a `(B, T, H, W, 3)` batch, or
                a list of clips of any sizes; None entries are clips without video.
            **kwargs: Any setting of this processor, for this call only, and `return_tensors` (`"pt"` or
                `"np"`).

        Returns:
            `BatchFeature` with `pixel_values_videos` `(B, T, 3, H, W)` float32, `video_mask` `(B, T)` bool,
            `has_video` `(B,)` bool and, with face cropping, `face_found` `(B,)` bool (False: centre crop used) and
            with `return_face_fraction=True` `face_fraction` `(B,)` float32, the fraction of the clip's sampled
            frames in which the face was found, by the detector or the tracker (0 for a clip without video).

        `first_faces` (a keyword, one entry per clip, None where unknown): the face's box `(x0, y0, x1, y1)` in the
        clip's first frame, in its pixels, already found (the processor passes the one `load_clip` found while
        choosing the frame size); the face crop starts there instead of searching the first frame again.
        """
        return_tensors = kwargs.pop("return_tensors", "pt")
        first_faces = kwargs.pop("first_faces", None)
        settings = self._resolved(kwargs)
        clips = self._as_list(videos)
        num_frames = settings["num_frames"]
        cropper = self.face_cropper(**kwargs) if settings["do_face_crop"] else None
        processed: list[torch.Tensor | None] = []
        face_found: list[bool] = []
        face_fraction: list[float] = []
        for index, clip in enumerate(clips):
            if clip is None:
                processed.append(None)
                face_found.append(False)
                face_fraction.append(0.0)
                continue
            frames = _to_thwc_uint8(clip, index)
            if frames.shape[0] == 0:
                raise ValueError(f"video {index} has no frames; pass None for a clip without video")
            first_face = None if first_faces is None else first_faces[index]
            if num_frames is not None and settings["do_sample_frames"] and frames.shape[0] > num_frames:
                indices = sample_frame_indices(frames.shape[0], num_frames)
                frames = frames[indices]
                first_face = first_face if indices[0] == 0 else None  # the face was found in a frame left out
            if cropper is not None:
                result = cropper(frames, first_face=first_face)
                frames = result.crops
                face_found.append(result.face_found)
                face_fraction.append(result.detection_rate)
            else:
                face_found.append(False)
                face_fraction.append(0.0)
            tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
            processed.append(self._transform(tensor, settings))
        batch = self._stack(processed, num_frames)
        batch["has_video"] = torch.tensor([p is not None for p in processed], dtype=torch.bool)
        if cropper is not None:
            batch["face_found"] = torch.tensor(face_found, dtype=torch.bool)
            if settings["return_face_fraction"]:
                batch["face_fraction"] = torch.tensor(face_fraction, dtype=torch.float32)
        if return_tensors == "np":
            batch = {k: v.numpy() for k, v in batch.items()}
        elif return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature(data=batch)

    def _transform(self, frames: torch.Tensor, settings: dict[str, Any]) -> torch.Tensor:
        """Resize, centre-crop, rescale and normalise `(T, 3, H, W)` uint8 frames into float32."""
        if settings["do_resize"]:
            frames = self.resize_frames(frames, settings["size"], settings["resample"])
        else:
            frames = frames.to(torch.float32)
        if settings["do_center_crop"] and settings["crop_size"] is not None:
            frames = self.center_crop_frames(frames, settings["crop_size"])
        if settings["do_rescale"]:
            frames = frames * float(settings["rescale_factor"])
        if settings["do_normalize"]:
            mean = torch.tensor(settings["image_mean"], dtype=torch.float32).view(1, -1, 1, 1)
            std = torch.tensor(settings["image_std"], dtype=torch.float32).view(1, -1, 1, 1)
            frames = (frames - mean) / std
        return frames.contiguous()

    def _stack(self, processed: list[torch.Tensor | None], num_frames: int | None) -> dict[str, torch.Tensor]:
        present = [p for p in processed if p is not None]
        if present:
            shapes = {tuple(p.shape[1:]) for p in present}
            if len(shapes) > 1:
                raise ValueError(
                    f"clips processed to different frame sizes {sorted(shapes)}; set size={{'height', 'width'}} "
                    "(or a centre crop) so a batch can be stacked"
                )
            channels, height, width = shapes.pop()
        else:
            channels, height, width = 3, *self._face_output_size(self._resolved({})["size"])
        length = num_frames if num_frames is not None else max([p.shape[0] for p in present] + [1])
        pixels = torch.zeros(len(processed), length, channels, height, width, dtype=torch.float32)
        mask = torch.zeros(len(processed), length, dtype=torch.bool)
        for i, clip in enumerate(processed):
            if clip is None:
                continue
            n = min(length, clip.shape[0])
            pixels[i, :n] = clip[:n]
            mask[i, :n] = True
        return {"pixel_values_videos": pixels, "video_mask": mask}
