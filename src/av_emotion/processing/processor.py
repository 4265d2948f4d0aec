"""`AVEmotionProcessor`: the one place where model inputs are made, from files or from decoded arrays.

It combines an `AVEmotionVideoProcessor` and an `AVEmotionFeatureExtractor` and decodes files through
`media.decode_clip` with its own settings (frame count from the video processor, sampling rate from the feature
extractor, clip window from itself). Training, evaluation, the pipeline and the CLI all call it, so a model saved
with its processor reproduces its own inputs. `save_pretrained` writes one `processor_config.json` with the two
components nested; `AutoProcessor.from_pretrained` loads it back (the classes are registered when
`av_emotion.processing` is imported).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, PretrainedConfig
from transformers.feature_extraction_utils import FeatureExtractionMixin
from transformers.models.auto.feature_extraction_auto import AutoFeatureExtractor
from transformers.models.auto.processing_auto import AutoProcessor

# `transformers.AutoVideoProcessor` is a placeholder that raises when torchvision is missing (it is not one of our
# dependencies); the class itself, which `AutoProcessor` uses, lives here and works without it.
from transformers.models.auto.video_processing_auto import AutoVideoProcessor
from transformers.processing_utils import ProcessorMixin
from transformers.video_processing_utils import VideoProcessorMixin

from av_emotion.processing.faces import ProbedFace
from av_emotion.processing.feature_extraction import AVEmotionFeatureExtractor
from av_emotion.processing.media import (
    DecodedClip,
    MediaLimits,
    MediaSource,
    check_modalities_argument,
    decode_clip,
    iter_windows,
)
from av_emotion.processing.presets import describe_preset
from av_emotion.processing.video_processing import AVEmotionVideoProcessor

__all__ = ["AVEmotionProcessor", "SilentAudioWarning", "register_processor_classes"]

# Window used for long videos when neither `window_s` nor `clip_duration_s` is set. Our choice: 3 s, about one
# acted utterance (RAVDESS clips last 3-5 s, CREMA-D 2-3 s).
DEFAULT_WINDOW_S = 3.0

# Peak amplitude (full scale 1.0) at or below which a decoded audio track is digital silence. Our choice: 1e-4, about
# -80 dBFS or 3 steps of 16-bit audio, so dithered silence counts too; the quietest real speech in the shared samples
# peaks near 0.07 (RAVDESS 01-01-03-01-01-02-05.mp4), and the video-only RAVDESS files (02-*) decode to exact zeros.
DEFAULT_SILENCE_THRESHOLD = 1e-4

# Longest whole clip decoded when `clip_duration_s` is None. Our choice: 60 s, twelve times the longest utterance in
# RAVDESS or CREMA-D (about 5 s), so corpus clips are never cut; a 10-minute file would otherwise be decoded and
# turned into features whole, and the memory of whole-clip prediction would grow with the file's length (issue 17:
# 1.3x the peak RSS for 600 s vs 60 s with "mocanu2023"). Longer files: windowed prediction.
DEFAULT_MAX_CLIP_DURATION_S = 60.0


class SilentAudioWarning(UserWarning):
    """An audio track decoded from a file is digital silence and is treated as missing."""


def _is_media_source(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview))


class AVEmotionProcessor(ProcessorMixin):
    r"""Turn audio-video clips (files or arrays) into the inputs of every av_emotion model.

    Outputs (`BatchFeature`, DESIGN.md section 3):
        - `pixel_values_videos`: `(B, T, 3, H, W)` float32, normalised face crops (or frames).
        - `video_mask`: `(B, T)` bool, True for real frames.
        - `input_features`: `(B, F, frames)` float32, log-mel (`F = n_mels`) or MFCC (`F = n_mfcc`).
        - `audio_mask`: `(B, frames)` bool, True for frames computed from real audio.
        - `has_video`, `has_audio`: `(B,)` bool; a missing modality has all-zero values and an all-False mask.
        - `face_found`: `(B,)` bool with face cropping (False: no face in the clip, centre crop used).
        - `face_fraction`: `(B,)` float32, share of the sampled frames in which the face was found (detected or
          followed by the face tracker), only when asked
          (`return_face_fraction=True`: the models' `forward` does not take it).
        - `labels`: when given; `(B,)` int64 for class ids, `(B, ...)` float32 for regression targets.

    Args:
        video_processor: Frame settings (default `AVEmotionVideoProcessor()`).
        feature_extractor: Audio settings (default `AVEmotionFeatureExtractor()`).
        clip_duration_s: Length of the window decoded from each file, seconds, and the fixed audio length
            (None: the whole file, audio padded to the longest in the batch).
        clip_position: Where that window lies in the file: `"center"` or `"start"`.
        window_s: Window length for long videos (`iter_clips`), seconds (default `clip_duration_s`, else 3 s).
        window_stride_s: Hop between windows for long videos, seconds (default half a window).
        silence_threshold: Peak amplitude (full scale 1.0) at or below which the audio decoded from a file (the
            whole clip, or one window) is digital silence and treated as missing: `has_audio=False`, an all-False
            `audio_mask` and a `SilentAudioWarning` (no `allow_missing_audio` needed: the file has a track, and
            whole-clip and windowed decoding treat it alike). RAVDESS's video-only files (`02-*`) and many screen
            recordings carry such a track of zeros. Our choice: 1e-4 (about -80 dBFS); None uses every track as
            sound. Arrays passed as `audio=` are never checked: the caller chose them.
        max_clip_duration_s: Longest clip decoded from a file, seconds, when `clip_duration_s` is None (the whole
            file): a longer file gives the window of this length at `clip_position`, with a `LongClipWarning`, so
            whole-clip memory stays flat in the file's length; windowed prediction (`window_s`, `iter_clips`)
            covers all of it. Our choice: 60 s (see `DEFAULT_MAX_CLIP_DURATION_S`); None decodes files whole
            however long they are.
    """

    model_input_names = ["pixel_values_videos", "video_mask", "input_features", "audio_mask"]

    def __init__(
        self,
        video_processor: AVEmotionVideoProcessor | None = None,
        feature_extractor: AVEmotionFeatureExtractor | None = None,
        clip_duration_s: float | None = None,
        clip_position: str = "center",
        window_s: float | None = None,
        window_stride_s: float | None = None,
        silence_threshold: float | None = DEFAULT_SILENCE_THRESHOLD,
        max_clip_duration_s: float | None = DEFAULT_MAX_CLIP_DURATION_S,
    ) -> None:
        if clip_position not in ("center", "start"):
            raise ValueError(f"clip_position must be 'center' or 'start', got {clip_position!r}")
        if clip_duration_s is not None and clip_duration_s <= 0:
            raise ValueError(f"clip_duration_s must be positive seconds or None, got {clip_duration_s}")
        super().__init__(
            video_processor=video_processor if video_processor is not None else AVEmotionVideoProcessor(),
            feature_extractor=feature_extractor if feature_extractor is not None else AVEmotionFeatureExtractor(),
        )
        self.clip_duration_s = None if clip_duration_s is None else float(clip_duration_s)
        self.clip_position = clip_position
        self.window_s = None if window_s is None else float(window_s)
        self.window_stride_s = None if window_stride_s is None else float(window_stride_s)
        if silence_threshold is not None and not 0 <= silence_threshold < 1:
            raise ValueError(f"silence_threshold must be a peak amplitude in [0, 1) or None, got {silence_threshold}")
        self.silence_threshold = None if silence_threshold is None else float(silence_threshold)
        if max_clip_duration_s is not None and not max_clip_duration_s > 0:
            raise ValueError(f"max_clip_duration_s must be positive seconds or None, got {max_clip_duration_s}")
        self.max_clip_duration_s = None if max_clip_duration_s is None else float(max_clip_duration_s)

    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> type:
        """Check a component's type directly.

        `ProcessorMixin`'s own check looks the base class up through `transformers.VIDEO_PROCESSOR_MAPPING`,
        which is a placeholder that raises when torchvision is not installed; av_emotion does not need torchvision.
        """
        expected = {"video_processor": VideoProcessorMixin, "feature_extractor": FeatureExtractionMixin}[argument_name]
        if not isinstance(argument, expected):
            raise TypeError(
                f"Received a {type(argument).__name__} for argument {argument_name}, but a {expected.__name__} "
                "was expected."
            )
        return expected

    # ---------------------------------------------------------------------------------------------------------
    # Presets
    # ---------------------------------------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> AVEmotionProcessor:
        """Build the processor of a named input recipe (`presets.PROCESSOR_PRESETS`), with overrides.

        Each override goes to the component that has a setting of that name: the processor itself
        (`clip_duration_s`, `clip_position`, `window_s`, `window_stride_s`), the video processor (`num_frames`,
        `size`, `do_face_crop`, ...) or the feature extractor (`sampling_rate`, `n_mels`, ...). Nested dicts
        `video_processor={...}` / `feature_extractor={...}` are accepted too, and are needed for a setting both
        components have (`do_normalize`): a flat override of it is refused rather than sent to one of them.

        Example: `AVEmotionProcessor.from_preset("jca2022", num_frames=32, sampling_rate=16000)`.
        """
        preset = describe_preset(name)
        video_settings = dict(preset.get("video_processor", {}))
        audio_settings = dict(preset.get("feature_extractor", {}))
        processor_settings = dict(preset.get("processor", {}))
        video_settings.update(overrides.pop("video_processor", None) or {})
        audio_settings.update(overrides.pop("feature_extractor", None) or {})
        processor_keys = set(inspect.signature(cls.__init__).parameters) - {"self"}
        video_keys = set(AVEmotionVideoProcessor.valid_kwargs.__annotations__)
        audio_keys = set(inspect.signature(AVEmotionFeatureExtractor.__init__).parameters) - {"self", "kwargs"}
        for key, value in overrides.items():
            if key in video_keys and key in audio_keys:
                # `do_normalize` means pixel normalisation to the video processor and per-clip standardisation to
                # the feature extractor: routing it to either would silently leave the other meaning unchanged.
                raise TypeError(
                    f"{key!r} is a setting of both the video processor and the feature extractor; pass "
                    f"video_processor={{{key!r}: ...}} or feature_extractor={{{key!r}: ...}}"
                )
            if key in processor_keys:
                processor_settings[key] = value
            elif key in video_keys:
                video_settings[key] = value
            elif key in audio_keys:
                audio_settings[key] = value
            else:
                raise TypeError(
                    f"{key!r} is not a processor setting; valid: {sorted(processor_keys | video_keys | audio_keys)}"
                )
        return cls(
            AVEmotionVideoProcessor(**video_settings),
            AVEmotionFeatureExtractor(**audio_settings),
            **processor_settings,
        )

    @classmethod
    def from_encoders(
        cls,
        preset: str,
        vision_encoder: str | None = None,
        audio_encoder: str | None = None,
        **overrides: Any,
    ) -> AVEmotionProcessor:
        """Build a preset whose inputs follow the preprocessing of transformers encoder checkpoints (path or Hub id).

        From the vision checkpoint's image processor: the frame size (`size`, or `crop_size` when it
        centre-crops) and `image_mean` / `image_std`. From the audio checkpoint's feature extractor: its
        `sampling_rate` and `do_normalize`, with `feature_type="waveform"` (the speech model reads samples).
        Everything else (frame count, face crop, clip window) comes from `preset` and `overrides`. The result is
        saved with the model like any processor, so the saved model reproduces its inputs.
        """
        settings: dict[str, Any] = {}
        if vision_encoder is not None:
            from transformers import AutoImageProcessor

            image_processor = AutoImageProcessor.from_pretrained(vision_encoder)
            size = dict(getattr(image_processor, "size", None) or {})
            if getattr(image_processor, "do_center_crop", False) and getattr(image_processor, "crop_size", None):
                size = dict(image_processor.crop_size)
            if "shortest_edge" in size and "height" not in size:
                size = {"height": size["shortest_edge"], "width": size["shortest_edge"]}
            settings["video_processor"] = {
                "size": {"height": int(size["height"]), "width": int(size["width"])},
                "image_mean": list(image_processor.image_mean),
                "image_std": list(image_processor.image_std),
            }
        if audio_encoder is not None:
            from transformers import AutoFeatureExtractor

            feature_extractor = AutoFeatureExtractor.from_pretrained(audio_encoder)
            settings["feature_extractor"] = {
                "feature_type": "waveform",
                "sampling_rate": int(feature_extractor.sampling_rate),
                "do_normalize": bool(getattr(feature_extractor, "do_normalize", False)),
            }
        for part in ("video_processor", "feature_extractor"):
            if part in overrides:
                settings.setdefault(part, {}).update(overrides.pop(part))
        return cls.from_preset(preset, **settings, **overrides)

    # ---------------------------------------------------------------------------------------------------------
    # Settings shared with decoding
    # ---------------------------------------------------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        """Frames per clip `T`."""
        return int(self.video_processor.num_frames)

    @property
    def sampling_rate(self) -> int:
        """Audio rate the features are computed at, Hz."""
        return int(self.feature_extractor.sampling_rate)

    @property
    def effective_window_s(self) -> float:
        """Window length for long videos, seconds."""
        return self.window_s or self.clip_duration_s or DEFAULT_WINDOW_S

    @property
    def effective_window_stride_s(self) -> float:
        """Hop between windows for long videos, seconds."""
        return self.window_stride_s or self.effective_window_s / 2

    # ---------------------------------------------------------------------------------------------------------
    # Decoding
    # ---------------------------------------------------------------------------------------------------------

    def load_clip(
        self,
        source: MediaSource,
        start_s: float | None = None,
        end_s: float | None = None,
        allow_missing_audio: bool = False,
        allow_missing_video: bool = False,
        limits: MediaLimits | None = None,
        modalities: Sequence[str] | None = None,
        **video_settings: Any,
    ) -> DecodedClip:
        """Decode a file (path or bytes) with this processor's frame count, sampling rate and clip window.

        The window is `clip_duration_s` seconds at `clip_position` of `[start_s, end_s)` (default the whole file).
        Without a face crop, frames are scaled to the output size while they are converted (cheaper than after);
        with one, to the smallest size that keeps the face crop's resolution (`face_decode_size`);
        `video_settings` are the video processor overrides the frames will be processed with. `modalities`
        (`("video",)` or `("audio",)`) decodes one stream only and returns the other as missing. An audio track that
        is digital silence (`silence_threshold`) is returned as missing (`silent_audio=True`), with a warning. A
        range longer than `max_clip_duration_s` is cut to its window at `clip_position` (`LongClipWarning`).

        Raises:
            MediaError: as `media.decode_clip`, naming the file and the fix.
        """
        clip = decode_clip(
            source,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            start_s=start_s,
            end_s=end_s,
            limits=limits,
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            frame_size=self.video_processor.decoding_frame_size(**video_settings),
            clip_duration_s=self.clip_duration_s,
            clip_position=self.clip_position,
            modalities=modalities,
            max_clip_duration_s=self.max_clip_duration_s,
        )
        return self._drop_silent_audio(clip, window=False)

    def iter_clips(
        self,
        source: MediaSource,
        window_s: float | None = None,
        stride_s: float | None = None,
        allow_missing_audio: bool = False,
        allow_missing_video: bool = False,
        limits: MediaLimits | None = None,
        modalities: Sequence[str] | None = None,
        windows: slice | None = None,
        **video_settings: Any,
    ) -> Iterator[DecodedClip]:
        """Decode a long file window by window (memory flat in its length); feed batches to `process_clips`.

        `modalities` and silent audio as in `load_clip`, judged window by window (one warning per file). `windows`
        (a slice of window indices) decodes only those windows, as `media.iter_windows`.
        """
        windows = iter_windows(
            source,
            window_s=window_s or self.effective_window_s,
            stride_s=stride_s or self.effective_window_stride_s,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            limits=limits,
            allow_missing_audio=allow_missing_audio,
            allow_missing_video=allow_missing_video,
            frame_size=self.video_processor.decoding_frame_size(**video_settings),
            modalities=modalities,
            windows=windows,
        )
        warned = False
        for clip in windows:
            with warnings.catch_warnings():
                if warned:
                    warnings.simplefilter("ignore", SilentAudioWarning)
                checked = self._drop_silent_audio(clip, window=True)
            warned = warned or (clip.has_audio and not checked.has_audio)
            yield checked

    def _drop_silent_audio(self, clip: DecodedClip, window: bool) -> DecodedClip:
        """Return `clip` with its audio marked missing when it is digital silence (see `silence_threshold`)."""
        if self.silence_threshold is None or not clip.has_audio or clip.audio is None or clip.audio.size == 0:
            return clip
        peak = float(np.abs(clip.audio).max())
        if peak > self.silence_threshold:
            return clip
        where = f"{clip.path} ({clip.start_s:.2f}-{clip.end_s:.2f} s)" if window else clip.path
        what = (
            f"{where}: the audio track is digital silence (peak amplitude {peak:.2g} <= silence_threshold "
            f"{self.silence_threshold:g})"
        )
        later = "; later silent windows of this file are not reported again" if window else ""
        warnings.warn(
            f"{what}: treated as missing, the model runs on the video alone (pass modalities=('video',) to say so, "
            f"or a processor with silence_threshold=None to use the track as sound){later}",
            SilentAudioWarning,
            stacklevel=3,
        )
        return dataclasses.replace(clip, audio=None, has_audio=False, silent_audio=True)

    # ---------------------------------------------------------------------------------------------------------
    # Model inputs
    # ---------------------------------------------------------------------------------------------------------

    def __call__(
        self,
        videos: Any = None,
        audio: Any = None,
        sampling_rate: int | None = None,
        paths: Sequence[MediaSource] | MediaSource | None = None,
        labels: Any = None,
        return_tensors: str | None = "pt",
        allow_missing_audio: bool = False,
        allow_missing_video: bool = False,
        limits: MediaLimits | None = None,
        modalities: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Make model inputs from files or from decoded arrays.

        Args:
            videos: Clips as `(T, H, W, 3)` uint8 RGB arrays (one, a list, or a `(B, T, H, W, 3)` batch; None
                entries for clips without video), or file paths / bytes (then decoded like `paths`).
            audio: Waveforms as `(samples,)` float arrays in [-1, 1] (one or a list; None entries for clips
                without audio).
            sampling_rate: Rate of `audio`, Hz (required with `audio`; resampled to the processor's rate).
            paths: Files (paths or bytes) to decode with this processor's settings.
            labels: Class ids or regression targets, one per clip.
            return_tensors: `"pt"` or `"np"`.
            allow_missing_audio: Accept clips without audio (all-False `audio_mask`, `has_audio=False`).
            allow_missing_video: Accept clips without video (all-False `video_mask`, `has_video=False`).
            limits: Decoding limits for files (default `MediaLimits()`).
            modalities: For files: decode only `("video",)` or `("audio",)` and treat the other as missing
                (default both). A silent audio track is treated as missing too (`silence_threshold`).
            **kwargs: Video processor settings for this call (e.g. `do_face_crop=False`).

        Returns:
            `BatchFeature` as described in the class docstring.
        """
        if paths is None and videos is not None:
            listed = videos if isinstance(videos, (list, tuple)) else [videos]
            if listed and all(_is_media_source(v) for v in listed):
                paths, videos = listed, None
        if paths is not None:
            if videos is not None or audio is not None:
                raise ValueError("pass either files (paths=) or decoded arrays (videos=, audio=), not both")
            sources = [paths] if _is_media_source(paths) else list(paths)
            want_video, want_audio = check_modalities_argument(modalities)
            allow_missing_audio = allow_missing_audio or not want_audio
            allow_missing_video = allow_missing_video or not want_video
            clips = [
                self.load_clip(
                    source,
                    allow_missing_audio=allow_missing_audio,
                    allow_missing_video=allow_missing_video,
                    limits=limits,
                    modalities=modalities,
                    **kwargs,
                )
                for source in sources
            ]
            return self.process_clips(
                clips,
                labels=labels,
                return_tensors=return_tensors,
                allow_missing_audio=allow_missing_audio,
                allow_missing_video=allow_missing_video,
                **kwargs,
            )
        if modalities is not None:
            raise ValueError("modalities= selects the streams decoded from files (paths=); for arrays pass None")
        if videos is None and audio is None:
            raise ValueError("nothing to process: pass videos=, audio= (with sampling_rate=) or paths=")
        video_list = AVEmotionVideoProcessor._as_list(videos) if videos is not None else None
        audio_list = self._audio_list(audio) if audio is not None else None
        size = len(video_list) if video_list is not None else len(audio_list)
        if video_list is not None and audio_list is not None and len(video_list) != len(audio_list):
            raise ValueError(
                f"got {len(video_list)} videos but {len(audio_list)} audio clips; pass one of each per clip"
            )
        video_list = video_list if video_list is not None else [None] * size
        audio_list = audio_list if audio_list is not None else [None] * size
        if audio is not None and sampling_rate is None:
            raise ValueError(
                f"pass sampling_rate= (Hz) with audio=; the processor computes features at {self.sampling_rate} Hz "
                "and resamples other rates"
            )
        self._check_missing(video_list, audio_list, allow_missing_audio, allow_missing_video, names=None)
        rates = [sampling_rate] * size
        return self._make_batch(video_list, audio_list, rates, labels, return_tensors, **kwargs)

    @staticmethod
    def _audio_list(audio: Any) -> list[Any]:
        if isinstance(audio, (np.ndarray, torch.Tensor)):
            return [audio] if audio.ndim == 1 else list(audio)
        if isinstance(audio, (list, tuple)):
            if audio and all(isinstance(x, (int, float)) for x in audio):
                return [np.asarray(audio, dtype=np.float32)]
            return list(audio)
        raise TypeError(f"audio must be an array, a tensor or a list of them, got {type(audio).__name__}")

    @staticmethod
    def _check_missing(
        videos: list[Any],
        audio: list[Any],
        allow_missing_audio: bool,
        allow_missing_video: bool,
        names: list[str] | None,
    ) -> None:
        for i, (video, wave) in enumerate(zip(videos, audio)):
            name = names[i] if names is not None else f"clip {i}"
            if video is None and wave is None:
                raise ValueError(f"{name}: has neither video nor audio; drop it from the batch")
            if video is None and not allow_missing_video:
                raise ValueError(f"{name}: no video; pass allow_missing_video=True to run the audio branch alone")
            if wave is None and not allow_missing_audio:
                raise ValueError(f"{name}: no audio; pass allow_missing_audio=True to run the video branch alone")

    def process_clips(
        self,
        clips: DecodedClip | Sequence[DecodedClip],
        labels: Any = None,
        return_tensors: str | None = "pt",
        allow_missing_audio: bool = False,
        allow_missing_video: bool = False,
        **kwargs: Any,
    ) -> BatchFeature:
        """Make model inputs from decoded clips (`load_clip`, `iter_clips`, `media.decode_clip`)."""
        clips = [clips] if isinstance(clips, DecodedClip) else list(clips)
        if not clips:
            raise ValueError("process_clips needs at least one clip")
        videos = [c.frames if c.has_video else None for c in clips]
        audio = [c.audio if c.has_audio else None for c in clips]
        # A silent track was already reported (SilentAudioWarning), and a stream lost to a damaged tail
        # (TruncatedMediaWarning): neither needs allow_missing_*.
        checked = [c for c in clips if not c.silent_audio and not c.lost_streams]
        self._check_missing(
            [c.frames if c.has_video else None for c in checked],
            [c.audio if c.has_audio else None for c in checked],
            allow_missing_audio,
            allow_missing_video,
            names=[c.path for c in checked],
        )
        for clip in clips:
            if clip.silent_audio and not clip.has_video:
                raise ValueError(
                    f"{clip.path}: no video and its audio track is digital silence; drop it, or use a processor with "
                    "silence_threshold=None to run the audio branch on the track"
                )
        rates = [c.sampling_rate for c in clips]
        # The face `load_clip` found in each clip's first frame while choosing the frame size: not searched again.
        first_faces = [
            c.frame_size_basis.scaled_to(*c.frames.shape[1:3])
            if c.has_video and isinstance(c.frame_size_basis, ProbedFace)
            else None
            for c in clips
        ]
        if any(face is not None for face in first_faces):
            kwargs["first_faces"] = first_faces
        return self._make_batch(videos, audio, rates, labels, return_tensors, **kwargs)

    def _make_batch(
        self,
        videos: list[Any],
        audio: list[Any],
        rates: list[int | None],
        labels: Any,
        return_tensors: str | None,
        **kwargs: Any,
    ) -> BatchFeature:
        data = dict(self.video_processor(videos, return_tensors="pt", **kwargs))
        extractor = self.feature_extractor
        max_samples = None
        if self.clip_duration_s is not None:
            max_samples = int(round(self.clip_duration_s * extractor.sampling_rate))
        elif extractor.clip_duration_s is not None:
            max_samples = extractor.max_samples
        features = [
            None if wave is None else extractor.extract(extractor._as_waveform(wave, int(rate), max_samples))
            for wave, rate in zip(audio, rates)
        ]
        fixed = None if max_samples is None else extractor.num_frames_for(max_samples)
        data.update(extractor.pad_features(features, num_frames=fixed, return_tensors="pt"))
        if labels is not None:
            data["labels"] = self._labels_tensor(labels, len(videos))
        if return_tensors == "np":
            data = {k: v.numpy() for k, v in data.items()}
        elif return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature(data=data)

    @staticmethod
    def _labels_tensor(labels: Any, batch_size: int) -> torch.Tensor:
        tensor = labels if torch.is_tensor(labels) else torch.as_tensor(np.asarray(labels))
        if tensor.ndim == 0:
            tensor = tensor[None]
        if tensor.shape[0] != batch_size:
            raise ValueError(f"got {tensor.shape[0]} labels for {batch_size} clips; pass one label per clip")
        if tensor.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8, torch.int8):
            return tensor.to(torch.long)
        return tensor.to(torch.float32)


_REGISTRY_KEY = "av_emotion"


def register_processor_classes(config_class: type[PretrainedConfig] | None = None) -> None:
    """Register the processor classes with `AutoVideoProcessor`, `AutoFeatureExtractor` and `AutoProcessor`.

    Auto classes find a custom class by the name saved in `processor_config.json` among their registered
    entries, which are keyed by config class. Called at import with the key `"av_emotion"` (the Auto mappings
    accept a string key), so a saved processor loads on its own, without any model config; `register_architecture`
    calls it again with each architecture's config class, so `AutoProcessor` also resolves through a model's
    `config.json`. All three must be registered: without the processor entry `AutoProcessor` would silently fall
    back to returning the video processor. Idempotent.
    """
    for key in (_REGISTRY_KEY,) if config_class is None else (config_class,):
        AutoVideoProcessor.register(key, AVEmotionVideoProcessor, exist_ok=True)
        AutoFeatureExtractor.register(key, AVEmotionFeatureExtractor, exist_ok=True)
        AutoProcessor.register(key, AVEmotionProcessor, exist_ok=True)
