"""`AVEmotionFeatureExtractor`: waveforms to log-mel spectrograms (or MFCCs) with a frame mask.

The audio front ends of the three papers are log-mel spectrograms (Mocanu et al. 2023; JCA 2022: 64 mels,
AmplitudeToDB with top_db 80) and MFCCs (AVT-CA 2024, after katerynaCh/multimodal-emotion-recognition). Both are
computed with torchaudio transforms, whose parameters all live in this extractor's config, so a saved model
reproduces its own audio inputs. The mel filter bank is rebuilt from the config when needed and never saved.

Each clip's features are computed on its own samples only (so AmplitudeToDB's `top_db` floor is relative to that
clip, and padding never leaks into the features), then padded along the time axis; `audio_mask` marks the frames
computed from real audio. A missing clip (`None` in the batch) gives zero features, an all-False mask and
`has_audio=False`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torchaudio
from transformers import BatchFeature
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

__all__ = ["AVEmotionFeatureExtractor"]

FEATURE_TYPES = ("log_mel", "mfcc", "waveform")


@lru_cache(maxsize=16)
def _transform(settings: tuple[tuple[str, Any], ...]) -> torch.nn.Module:
    """Build (once per distinct setting) the torchaudio transform; kept out of the extractor so it is never saved."""
    config = dict(settings)
    mel_kwargs = {
        "n_fft": config["n_fft"],
        "win_length": config["win_length"],
        "hop_length": config["hop_length"],
        "f_min": config["f_min"],
        "f_max": config["f_max"],
        "n_mels": config["n_mels"],
        "power": config["power"],
        "center": config["center"],
        "norm": config["mel_norm"],
        "mel_scale": config["mel_scale"],
    }
    if config["feature_type"] == "mfcc":
        return torchaudio.transforms.MFCC(
            sample_rate=config["sampling_rate"],
            n_mfcc=config["n_mfcc"],
            dct_type=2,
            norm="ortho",
            log_mels=False,
            melkwargs=mel_kwargs,
        )
    stype = "power" if config["power"] == 2.0 else "magnitude"
    return torch.nn.Sequential(
        torchaudio.transforms.MelSpectrogram(sample_rate=config["sampling_rate"], **mel_kwargs),
        torchaudio.transforms.AmplitudeToDB(stype=stype, top_db=config["top_db"]),
    )


class AVEmotionFeatureExtractor(SequenceFeatureExtractor):
    r"""Turn mono waveforms into log-mel spectrograms or MFCCs, `(B, feature_size, frames)`, with `audio_mask`.

    Window and hop can be given in samples (`win_length`, `hop_length`, `n_fft`) or in milliseconds
    (`win_length_ms`, `hop_length_ms`); milliseconds win when both are set, and stay correct if `sampling_rate` is
    changed. With `center=True` (torchaudio's default) a clip of `N` samples gives `1 + N // hop_length` frames.

    Args:
        feature_type: `"log_mel"` (MelSpectrogram + AmplitudeToDB), `"mfcc"` (torchaudio MFCC over the same
            mel front end, log via AmplitudeToDB with top_db 80, DCT-II orthonormal), or `"waveform"`: the
            resampled samples themselves as `input_features` `(B, 1, samples)` with a per-sample `audio_mask`, for
            transformers speech encoders (wav2vec2, HuBERT, WavLM); `do_normalize` then standardises each clip.
        sampling_rate: Rate the features are computed at, Hz; files are decoded to it and arrays at another
            rate are resampled to it.
        n_mels: Mel bands (the feature size for log-mel).
        n_mfcc: Cepstral coefficients kept (the feature size for MFCC).
        n_fft: FFT size, samples.
        win_length: Window length, samples (default `n_fft`).
        hop_length: Hop between frames, samples (default `win_length // 2`).
        win_length_ms: Window length, ms (overrides `win_length`).
        hop_length_ms: Hop, ms (overrides `hop_length`).
        f_min: Lowest mel frequency, Hz.
        f_max: Highest mel frequency, Hz (default `sampling_rate / 2`).
        power: Exponent of the magnitude spectrogram (2.0: power, 1.0: magnitude).
        top_db: Dynamic range kept by AmplitudeToDB below each clip's maximum, dB (None: unlimited).
        mel_scale: `"htk"` (torchaudio's default) or `"slaney"` (librosa's default).
        mel_norm: Mel filter normalisation, None or `"slaney"` (librosa's default).
        center: Pad the waveform so frame `t` is centred at sample `t * hop_length`.
        clip_duration_s: Fixed clip length, seconds: longer waveforms are cut to it and every output has
            `1 + round(clip_duration_s * sampling_rate) // hop_length` frames. None pads the batch to its longest
            clip.
        do_normalize: Standardise each clip's features per band (mean 0, variance 1 over its valid frames).
        padding_value: Value of the padded frames (they are masked anyway).
        return_attention_mask: Return `audio_mask`.
    """

    model_input_names = ["input_features", "audio_mask"]

    def __init__(
        self,
        feature_type: str = "log_mel",
        sampling_rate: int = 16000,
        n_mels: int = 64,
        n_mfcc: int = 40,
        n_fft: int = 512,
        win_length: int | None = None,
        hop_length: int | None = None,
        win_length_ms: float | None = 25.0,
        hop_length_ms: float | None = 10.0,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 2.0,
        top_db: float | None = 80.0,
        mel_scale: str = "htk",
        mel_norm: str | None = None,
        center: bool = True,
        clip_duration_s: float | None = None,
        do_normalize: bool = False,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ) -> None:
        if feature_type not in FEATURE_TYPES:
            raise ValueError(f"feature_type must be one of {FEATURE_TYPES}, got {feature_type!r}")
        if mel_scale not in ("htk", "slaney"):
            raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
        # "waveform": the resampled mono samples themselves, one channel (for transformers speech encoders).
        feature_size = {"mfcc": n_mfcc, "waveform": 1}.get(feature_type, n_mels)
        kwargs.pop("feature_size", None)
        super().__init__(
            feature_size=feature_size,
            sampling_rate=int(sampling_rate),
            padding_value=float(padding_value),
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.feature_type = feature_type
        self.n_mels = int(n_mels)
        self.n_mfcc = int(n_mfcc)
        self.n_fft = int(n_fft)
        self.win_length = None if win_length is None else int(win_length)
        self.hop_length = None if hop_length is None else int(hop_length)
        self.win_length_ms = None if win_length_ms is None else float(win_length_ms)
        self.hop_length_ms = None if hop_length_ms is None else float(hop_length_ms)
        self.f_min = float(f_min)
        self.f_max = None if f_max is None else float(f_max)
        self.power = float(power)
        self.top_db = None if top_db is None else float(top_db)
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self.center = bool(center)
        self.clip_duration_s = None if clip_duration_s is None else float(clip_duration_s)
        self.do_normalize = bool(do_normalize)
        if self.effective_win_length > self.n_fft:
            raise ValueError(
                f"the window ({self.effective_win_length} samples) is longer than n_fft={self.n_fft}; "
                "raise n_fft or shorten the window"
            )

    # ---------------------------------------------------------------------------------------------------------
    # Resolved settings
    # ---------------------------------------------------------------------------------------------------------

    @property
    def effective_win_length(self) -> int:
        """Window length in samples at `sampling_rate`."""
        if self.win_length_ms is not None:
            return int(round(self.win_length_ms * self.sampling_rate / 1000))
        return self.win_length if self.win_length is not None else self.n_fft

    @property
    def effective_hop_length(self) -> int:
        """Hop length in samples at `sampling_rate`."""
        if self.hop_length_ms is not None:
            return int(round(self.hop_length_ms * self.sampling_rate / 1000))
        return self.hop_length if self.hop_length is not None else self.effective_win_length // 2

    @property
    def max_samples(self) -> int | None:
        """Samples in a fixed-length clip (None when clips are padded to the longest)."""
        return None if self.clip_duration_s is None else int(round(self.clip_duration_s * self.sampling_rate))

    def num_frames_for(self, num_samples: int) -> int:
        """Feature frames computed from `num_samples` samples (the samples themselves for `"waveform"`)."""
        if self.feature_type == "waveform":
            return num_samples
        hop = self.effective_hop_length
        if self.center:
            return 1 + num_samples // hop
        return max(0, 1 + (num_samples - self.n_fft) // hop)

    def _settings(self) -> tuple[tuple[str, Any], ...]:
        return (
            ("feature_type", self.feature_type),
            ("sampling_rate", self.sampling_rate),
            ("n_mels", self.n_mels),
            ("n_mfcc", self.n_mfcc),
            ("n_fft", self.n_fft),
            ("win_length", self.effective_win_length),
            ("hop_length", self.effective_hop_length),
            ("f_min", self.f_min),
            ("f_max", self.f_max),
            ("power", self.power),
            ("top_db", self.top_db),
            ("mel_scale", self.mel_scale),
            ("mel_norm", self.mel_norm),
            ("center", self.center),
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialise the settings (never the filter bank, which is rebuilt from them)."""
        output = super().to_dict()
        output.pop("feature_size", None)  # derived from feature_type and n_mels / n_mfcc
        return output

    # ---------------------------------------------------------------------------------------------------------
    # Features
    # ---------------------------------------------------------------------------------------------------------

    def _as_waveform(self, audio: Any, sampling_rate: int, max_samples: int | None) -> torch.Tensor:
        waveform = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio)
        waveform = waveform.to(torch.float32)
        if waveform.ndim == 2:
            # (channels, samples) with a handful of channels, or (samples, channels): average to mono.
            channel_axis = 0 if waveform.shape[0] <= waveform.shape[1] else 1
            waveform = waveform.mean(dim=channel_axis)
        if waveform.ndim != 1:
            raise ValueError(
                f"audio must be a 1-D mono waveform (or 2-D with a channel axis), got shape {tuple(waveform.shape)}"
            )
        if sampling_rate != self.sampling_rate:
            waveform = torchaudio.functional.resample(waveform, int(sampling_rate), self.sampling_rate)
        if max_samples is not None:
            waveform = waveform[:max_samples]
        return waveform

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        """Features of one mono waveform `(samples,)` at `sampling_rate`: `(feature_size, frames)` float32."""
        num_samples = int(waveform.shape[0])
        if num_samples == 0:
            return torch.zeros(self.feature_size, 0)
        if self.feature_type == "waveform":
            # do_normalize: zero mean, unit variance over the clip (Wav2Vec2FeatureExtractor's normalisation).
            features = waveform[None, :].to(torch.float32)
            if self.do_normalize:
                features = (features - features.mean()) / torch.sqrt(features.var(unbiased=False) + 1e-7)
            return features
        if self.center and num_samples <= self.n_fft // 2:
            # torch.stft's reflect padding needs more samples than half a window: pad a very short clip with zeros.
            waveform = torch.nn.functional.pad(waveform, (0, self.n_fft // 2 + 1 - waveform.shape[0]))
        with torch.no_grad():
            features = _transform(self._settings())(waveform)
        features = features[:, : self.num_frames_for(num_samples)]
        if self.do_normalize and features.shape[1] > 0:
            mean = features.mean(dim=1, keepdim=True)
            std = features.std(dim=1, keepdim=True, unbiased=False)
            features = (features - mean) / (std + 1e-5)
        return features.to(torch.float32)

    def __call__(
        self,
        raw_speech: Any,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        clip_duration_s: float | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Compute features for one waveform or a batch.

        Args:
            raw_speech: A `(samples,)` float waveform in [-1, 1], a list of them (entries may be None for clips
                without audio), or a `(batch, samples)` array.
            sampling_rate: Rate of `raw_speech`, Hz; resampled to `self.sampling_rate` if different. Required,
                so a waveform at the wrong rate is never silently misread.
            return_tensors: `"pt"` or `"np"`.
            clip_duration_s: Override the fixed clip length for this call.
            **kwargs: Refused (a misspelt setting must not be ignored silently).

        Returns:
            `BatchFeature` with `input_features` `(B, feature_size, frames)` float32, `audio_mask` `(B, frames)`
            bool and `has_audio` `(B,)` bool.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} for {type(self).__name__}")
        if sampling_rate is None:
            raise ValueError(
                f"pass sampling_rate= (in Hz) with the audio; {type(self).__name__} computes features at "
                f"{self.sampling_rate} Hz and resamples other rates"
            )
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)) and raw_speech.ndim == 1:
            batch = [raw_speech]
        elif isinstance(raw_speech, (np.ndarray, torch.Tensor)) and raw_speech.ndim == 2:
            batch = list(raw_speech)
        elif isinstance(raw_speech, (list, tuple)):
            batch = list(raw_speech)
        elif raw_speech is None:
            batch = [None]
        else:
            raise TypeError(f"audio must be an array, a tensor or a list of them, got {type(raw_speech).__name__}")
        duration = self.clip_duration_s if clip_duration_s is None else float(clip_duration_s)
        max_samples = None if duration is None else int(round(duration * self.sampling_rate))
        features = [
            None if a is None else self.extract(self._as_waveform(a, sampling_rate, max_samples)) for a in batch
        ]
        fixed = None if max_samples is None else self.num_frames_for(max_samples)
        return self.pad_features(features, num_frames=fixed, return_tensors=return_tensors)

    def pad_features(
        self, features: list[torch.Tensor | None], num_frames: int | None = None, return_tensors: str | None = "pt"
    ) -> BatchFeature:
        """Stack per-clip `(feature_size, frames_i)` features (None: no audio) into a padded, masked batch."""
        lengths = [0 if f is None else int(f.shape[1]) for f in features]
        if num_frames is None:
            num_frames = max([*lengths, 1])
        batch = torch.full((len(features), self.feature_size, num_frames), self.padding_value, dtype=torch.float32)
        mask = torch.zeros(len(features), num_frames, dtype=torch.bool)
        for i, f in enumerate(features):
            if f is None:
                batch[i] = 0.0
                continue
            n = min(num_frames, f.shape[1])
            batch[i, :, :n] = f[:, :n]
            mask[i, :n] = True
        has_audio = torch.tensor([f is not None for f in features], dtype=torch.bool)
        data = {"input_features": batch, "has_audio": has_audio}
        if self.return_attention_mask:
            data["audio_mask"] = mask
        if return_tensors == "np":
            data = {k: v.numpy() for k, v in data.items()}
        elif return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature(data=data)
