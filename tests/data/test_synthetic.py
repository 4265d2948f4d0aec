"""Synthetic corpus: the mp4 writer, the renderer, the corpus layout, and the fusion property."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from av_emotion.data import synthetic
from av_emotion.data.synthetic import write_clip


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode every video frame (RGB) and the audio track of `path`, trimmed to the stream's duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        info = {
            "video_codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "fps": float(video.average_rate),
            "audio_codec": audio.codec_context.name,
            "sampling_rate": audio.rate,
            "channels": audio.codec_context.layout.nb_channels,
            "audio_duration_s": float(audio.duration * audio.time_base),
        }
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    with av.open(str(path)) as container:
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
    info["decoded_audio_samples"] = samples.size
    samples = samples[: round(info["audio_duration_s"] * info["sampling_rate"])]
    return frames, samples, info


def _test_pattern(num_frames: int, height: int, width: int) -> np.ndarray:
    """Smooth colour gradients with a moving square: compressible, and every frame differs."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        frames[t, ..., 0] = 40 + 150 * x / width
        frames[t, ..., 1] = 40 + 150 * y / height
        frames[t, ..., 2] = 90
        left = 2 + t % (width - 12)
        frames[t, 8:18, left : left + 10] = 230
    return frames


def test_write_clip_round_trip(tmp_path):
    fps, rate, num_frames = 20, 16000, 30
    frames = _test_pattern(num_frames, 48, 64)
    t = np.arange(round(num_frames / fps * rate)) / rate
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * np.minimum(1, 4 * t)).astype(np.float32)
    path = write_clip(tmp_path / "clip.mp4", frames, audio, fps, rate)

    decoded, samples, info = _decode(path)
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["audio_codec"] == "aac" and info["sampling_rate"] == rate and info["channels"] == 1
    assert info["fps"] == fps
    assert decoded.shape == frames.shape
    # Lossy h264 at crf 18 with chroma subsampling: small mean error, and the moving square is where it was.
    assert np.abs(decoded.astype(float) - frames).mean() < 4.0
    bright = np.flatnonzero(decoded[5, 12, :, 0] > 215)  # frame 5's square spans columns 7..16
    assert bright.min() in (6, 7, 8) and bright.max() in (15, 16, 17)
    # Audio lasts as long as the video, and the AAC priming delay is removed (no lag between source and decode).
    assert abs(info["audio_duration_s"] - num_frames / fps) < 1 / fps
    assert samples.size == audio.size
    assert info["decoded_audio_samples"] - audio.size < synthetic.AAC_FRAME_SIZE
    lags = np.arange(-40, 41)
    middle = slice(2000, audio.size - 2000)
    correlation = [np.dot(np.roll(samples, -lag)[middle], audio[middle]) for lag in lags]
    assert lags[int(np.argmax(correlation))] == 0
    assert np.corrcoef(samples[middle], audio[middle])[0, 1] > 0.99


def test_write_clip_pads_odd_sizes_and_rejects_bad_input(tmp_path):
    frames = _test_pattern(5, 33, 47)
    audio = np.zeros(4000, np.float32)
    path = write_clip(tmp_path / "odd.mp4", frames, audio, 10, 16000)
    decoded, _, _ = _decode(path)
    assert decoded.shape == (5, 34, 48, 3)
    # The padding replicates the last row / column.
    assert np.abs(decoded[:, -1].astype(float) - decoded[:, -2]).mean() < 4.0

    with pytest.raises(ValueError, match="uint8"):
        write_clip(tmp_path / "x.mp4", frames.astype(np.float32), audio, 10, 16000)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        write_clip(tmp_path / "x.mp4", frames[..., 0], audio, 10, 16000)
    with pytest.raises(ValueError, match="mono"):
        write_clip(tmp_path / "x.mp4", frames, np.zeros((2, 100), np.float32), 10, 16000)
    with pytest.raises(ValueError, match="NaN"):
        write_clip(tmp_path / "x.mp4", frames, np.full(100, np.nan, np.float32), 10, 16000)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_clip(tmp_path / "missing" / "x.mp4", frames, audio, 10, 16000)
