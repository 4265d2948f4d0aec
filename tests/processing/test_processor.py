"""The processor: documented shapes on a real clip, values against independent computations, save/load, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio
from transformers import AutoConfig, AutoFeatureExtractor, AutoProcessor, PretrainedConfig
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

from av_emotion import AVEmotionProcessor as TopLevelProcessor
from av_emotion.processing import (
    PROCESSOR_PRESETS,
    AVEmotionFeatureExtractor,
    AVEmotionProcessor,
    AVEmotionVideoProcessor,
    MediaError,
    decode_clip,
    register_processor_classes,
)
from av_emotion.processing.video_processing import sample_frame_indices
from tests.processing.media_factory import frame_index, frame_level, write_media


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 2-s talking face at 192x192 (detailed frames, unlike the flat greys) with a 48 kHz voice."""
    from av_emotion.data.synthetic import SyntheticCorpusConfig, render_clip, write_clip

    config = SyntheticCorpusConfig(duration_s=2.0, frame_size=192, sampling_rate=48000)
    frames, audio = render_clip("angry", 3, config=config)
    path = tmp_path_factory.mktemp("talking") / "angry.mp4"
    return write_clip(path, frames, audio, config.fps, config.sampling_rate)


@pytest.fixture(scope="module")
def generated_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_media(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=2.0, fps=10, size=(72, 96))


def test_exported_from_the_package():
    assert TopLevelProcessor is AVEmotionProcessor


# ------------------------------------------------------------------------------------------------------------
# A real clip through the processor
# ------------------------------------------------------------------------------------------------------------


def test_ravdess_clip_gives_the_documented_shapes(ravdess_av_clip: Path):
    processor = AVEmotionProcessor.from_preset("cpu_small", clip_duration_s=None)
    batch = processor(paths=[ravdess_av_clip], labels=[2])
    duration = decode_clip(ravdess_av_clip, 1, 16000).duration_s
    hop = processor.feature_extractor.effective_hop_length
    frames = 1 + round(duration * 16000) // hop
    assert batch["pixel_values_videos"].shape == (1, 8, 3, 64, 64)
    assert batch["pixel_values_videos"].dtype == torch.float32
    assert batch["video_mask"].shape == (1, 8) and batch["video_mask"].all()
    assert batch["input_features"].shape == (1, 40, frames)
    assert batch["audio_mask"].shape == (1, frames) and batch["audio_mask"].all()
    assert batch["has_video"].tolist() == [True] and batch["has_audio"].tolist() == [True]
    assert batch["face_found"].tolist() == [True]
    assert batch["labels"].tolist() == [2] and batch["labels"].dtype == torch.long
    # Normalised pixels: roughly zero-mean, unit-scale; log-mel within top_db of its maximum.
    assert -3 < batch["pixel_values_videos"].mean() < 3
    features = batch["input_features"][0]
    assert features.max() - features.min() <= 80.0 + 1e-3


@pytest.mark.parametrize("name", sorted(PROCESSOR_PRESETS))
def test_every_preset_builds_the_shapes_it_documents(name: str, generated_clip: Path):
    processor = AVEmotionProcessor.from_preset(name)
    batch = processor(paths=[generated_clip, generated_clip.read_bytes()])
    video = processor.video_processor
    size = video.size
    assert batch["pixel_values_videos"].shape == (2, video.num_frames, 3, size.height, size.width)
    extractor = processor.feature_extractor
    # Fixed-length presets pad the 2-s clip to their clip length; the others keep its own length.
    real = extractor.num_frames_for(round(min(2.0, processor.clip_duration_s or 2.0) * extractor.sampling_rate))
    total = extractor.num_frames_for(round((processor.clip_duration_s or 2.0) * extractor.sampling_rate))
    assert batch["input_features"].shape == (2, extractor.feature_size, total)
    assert batch["audio_mask"].sum(1).tolist() == [real, real] and batch["video_mask"].all()


def test_preset_values_follow_the_papers():
    jca = AVEmotionProcessor.from_preset("jca2022")
    fe = jca.feature_extractor
    assert (fe.sampling_rate, fe.n_fft, fe.n_mels, fe.top_db) == (44100, 1024, 64, 80.0)
    assert (fe.effective_win_length, fe.effective_hop_length) == (882, 441)  # 20 ms, 10 ms at 44.1 kHz
    assert jca.video_processor.size.height == 112 and jca.video_processor.num_frames % 8 == 0
    avt = AVEmotionProcessor.from_preset("avt_ca2024")
    assert (avt.video_processor.num_frames, avt.video_processor.size.height, avt.clip_duration_s) == (15, 224, 3.6)
    assert (avt.feature_extractor.feature_type, avt.feature_extractor.n_mfcc) == ("mfcc", 10)
    assert avt.feature_extractor.sampling_rate == 22050
    assert not AVEmotionProcessor.from_preset("synthetic").video_processor.do_face_crop


def test_preset_overrides_go_to_the_right_component():
    processor = AVEmotionProcessor.from_preset("jca2022", num_frames=16, sampling_rate=16000, clip_duration_s=2.0)
    assert processor.video_processor.num_frames == 16
    assert processor.feature_extractor.sampling_rate == 16000
    assert processor.clip_duration_s == 2.0
    assert PROCESSOR_PRESETS["jca2022"]["video_processor"]["num_frames"] == 64  # the preset is untouched
    with pytest.raises(TypeError, match="not a processor setting"):
        AVEmotionProcessor.from_preset("jca2022", num_franes=16)
    with pytest.raises(KeyError, match="known presets"):
        AVEmotionProcessor.from_preset("nope")


def test_a_setting_both_components_have_must_name_its_component():
    # `do_normalize` is pixel normalisation for the video processor and per-clip standardisation for the feature
    # extractor: a flat override once went silently to the video processor and left the audio unchanged.
    with pytest.raises(TypeError, match=r"both the video processor and the feature extractor.*feature_extractor="):
        AVEmotionProcessor.from_preset("cpu_small", do_normalize=True)
    processor = AVEmotionProcessor.from_preset("cpu_small", feature_extractor={"do_normalize": True})
    assert processor.feature_extractor.do_normalize and processor.video_processor.do_normalize
    processor = AVEmotionProcessor.from_preset("cpu_small", video_processor={"do_normalize": False})
    assert not processor.feature_extractor.do_normalize and not processor.video_processor.do_normalize


# ------------------------------------------------------------------------------------------------------------
# Values against independent computations
# ------------------------------------------------------------------------------------------------------------


def numpy_log_mel(wave: np.ndarray, rate: int, n_fft: int, win: int, hop: int, n_mels: int, top_db: float):
    """Log-mel power spectrogram written out in numpy (centred frames, reflect padding, periodic Hann window)."""
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset : offset + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    num = 1 + len(wave) // hop
    frames = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(num)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, n_fft // 2 + 1)
    fbank = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, rate / 2, n_mels, rate).numpy()
    mel = power @ fbank  # (frames, n_mels)
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - top_db).T


def test_log_mel_matches_a_numpy_computation():
    rng = np.random.default_rng(0)
    t = np.arange(12000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)
    extractor = AVEmotionFeatureExtractor(n_fft=512, win_length_ms=25.0, hop_length_ms=10.0, n_mels=40, top_db=80.0)
    features = extractor(wave, sampling_rate=16000)["input_features"][0].numpy()
    expected = numpy_log_mel(wave.astype(np.float64), 16000, 512, 400, 160, 40, 80.0)
    assert features.shape == expected.shape == (40, 1 + 12000 // 160)
    np.testing.assert_allclose(features, expected, atol=1e-3)


def test_audio_padding_mask_and_fixed_length():
    extractor = AVEmotionFeatureExtractor(n_mels=32)
    long, short = np.zeros(16000, np.float32) + 0.1, np.zeros(4000, np.float32) + 0.1
    batch = extractor([long, None, short], sampling_rate=16000)
    assert batch["input_features"].shape == (3, 32, 101)
    assert batch["audio_mask"].sum(1).tolist() == [101, 0, 26]
    assert batch["has_audio"].tolist() == [True, False, True]
    assert (batch["input_features"][1] == 0).all()
    # The short clip's features do not depend on its batch-mates (computed before padding).
    alone = extractor(short, sampling_rate=16000)["input_features"][0]
    torch.testing.assert_close(batch["input_features"][2, :, :26], alone)
    fixed = extractor([long], sampling_rate=16000, clip_duration_s=0.5)
    assert fixed["input_features"].shape == (1, 32, 51) and fixed["audio_mask"].all()


def test_arrays_at_another_rate_are_resampled(talking_clip: Path):
    processor = AVEmotionProcessor.from_preset("synthetic")
    clip_48k = decode_clip(talking_clip, 8, 48000)
    from_arrays = processor(videos=[clip_48k.frames], audio=[clip_48k.audio], sampling_rate=48000)
    from_file = processor(paths=[talking_clip])
    a, b = from_arrays["input_features"], from_file["input_features"]
    assert a.shape == b.shape
    # Two resamplers (torchaudio vs FFmpeg) and two frame scalers agree closely, not bit for bit.
    assert (a - b).abs().mean() < 1.0
    assert (from_arrays["pixel_values_videos"] - from_file["pixel_values_videos"]).abs().mean() < 0.05


def test_video_sampling_normalisation_and_padding():
    levels = np.array([frame_level(k) for k in range(20)], dtype=np.uint8)
    video = np.broadcast_to(levels[:, None, None, None], (20, 24, 32, 3)).copy()
    processor = AVEmotionVideoProcessor(num_frames=8, do_face_crop=False, size={"height": 12, "width": 16})
    batch = processor([video, video[:5], None])
    pixels = batch["pixel_values_videos"]
    assert pixels.shape == (3, 8, 3, 12, 16)
    assert batch["video_mask"].sum(1).tolist() == [8, 5, 0]
    assert batch["has_video"].tolist() == [True, True, False]
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_std).view(3, 1, 1)
    recovered = ((pixels[0] * std + mean) * 255).round()  # undo the normalisation: flat grey frames again
    indices = [frame_index(frame.permute(1, 2, 0).numpy()) for frame in recovered]
    assert indices == sample_frame_indices(20, 8).tolist() == [1, 3, 6, 8, 11, 13, 16, 18]
    assert (pixels[1, 5:] == 0).all() and (pixels[2] == 0).all()


def test_shortest_edge_resize_and_centre_crop():
    video = np.zeros((2, 60, 100, 3), dtype=np.uint8)
    video[:, :, 40:60] = 255  # a white vertical band in the middle
    processor = AVEmotionVideoProcessor(
        num_frames=2,
        do_face_crop=False,
        size={"shortest_edge": 30},
        do_center_crop=True,
        crop_size={"height": 30, "width": 30},
        do_normalize=False,
    )
    pixels = processor(video)["pixel_values_videos"][0, 0, 0]
    assert pixels.shape == (30, 30)
    # 100 x 60 -> 50 x 30 -> centre 30: columns 10..40 of the resized frame; the band (20..30) stays centred.
    assert pixels[:, 12:18].max() > 0.99 and pixels[:, :8].max() < 0.01 and pixels[:, 22:].max() < 0.01
    assert processor.decoding_frame_size() == 30


def test_decoding_with_scaling_matches_processing_full_frames(talking_clip: Path):
    processor = AVEmotionProcessor.from_preset("synthetic")
    full = decode_clip(talking_clip, 8, 16000)
    assert full.frames.shape[1:] == (192, 192, 3)  # the file is larger than the 64x64 the preset decodes to
    from_full_frames = processor.process_clips(full)["pixel_values_videos"]
    from_scaled_decode = processor(paths=[talking_clip])["pixel_values_videos"]
    # FFmpeg's area filter and torch's antialiased bilinear resize differ by a few grey levels at most.
    difference = (from_full_frames - from_scaled_decode).abs() * 0.5 * 255  # std 0.5 -> grey levels
    assert difference.mean() < 3.0


# ------------------------------------------------------------------------------------------------------------
# Missing modalities and bad input
# ------------------------------------------------------------------------------------------------------------


def test_missing_audio_needs_consent_and_gives_a_flag(tmp_path: Path):
    silent = write_media(tmp_path / "silent.mp4", audio=False)
    processor = AVEmotionProcessor.from_preset("synthetic")
    with pytest.raises(MediaError, match="allow_missing_audio=True"):
        processor(paths=[silent])
    batch = processor(paths=[silent], allow_missing_audio=True)
    assert batch["has_audio"].tolist() == [False] and not batch["audio_mask"].any()
    assert (batch["input_features"] == 0).all()
    assert batch["has_video"].tolist() == [True] and batch["video_mask"].all()
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="no audio; pass allow_missing_audio=True"):
        processor(videos=[frames])


def test_missing_video_needs_consent_and_gives_a_flag(tmp_path: Path):
    wav = write_media(tmp_path / "speech.wav", video=False)
    processor = AVEmotionProcessor.from_preset("synthetic")
    with pytest.raises(MediaError, match="allow_missing_video=True"):
        processor(paths=[wav])
    batch = processor(paths=[wav], allow_missing_video=True)
    assert batch["has_video"].tolist() == [False] and not batch["video_mask"].any()
    assert (batch["pixel_values_videos"] == 0).all() and batch["pixel_values_videos"].shape == (1, 8, 3, 64, 64)
    assert batch["has_audio"].tolist() == [True] and batch["audio_mask"].all()


def test_bad_processor_input(tmp_path: Path):
    processor = AVEmotionProcessor.from_preset("synthetic")
    with pytest.raises(ValueError, match="sampling_rate="):
        processor(audio=[np.zeros(100, np.float32)], allow_missing_video=True)
    with pytest.raises(ValueError, match="nothing to process"):
        processor()
    with pytest.raises(ValueError, match="2 videos but 1 audio"):
        processor(videos=[np.zeros((2, 8, 8, 3), np.uint8)] * 2, audio=[np.zeros(100)], sampling_rate=16000)
    with pytest.raises(ValueError, match="one label per clip"):
        processor(videos=[np.zeros((2, 8, 8, 3), np.uint8)], allow_missing_audio=True, labels=[1, 2])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(MediaError, match="not a media file"):
        processor(paths=[text])


def test_regression_labels_are_float():
    processor = AVEmotionProcessor.from_preset("synthetic")
    batch = processor(
        videos=[np.zeros((2, 8, 8, 3), np.uint8)] * 2,
        allow_missing_audio=True,
        labels=[[0.5, -0.2], [0.1, 0.9]],
    )
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (2, 2)


def test_iter_clips_streams_windows_into_batches(tmp_path: Path):
    path = write_media(tmp_path / "long.mp4", duration_s=5.0, fps=10, gop=10)
    processor = AVEmotionProcessor.from_preset("synthetic", window_s=2.0, window_stride_s=1.0)
    clips = list(processor.iter_clips(path))
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (3.0, 5.0)]
    batch = processor.process_clips(clips)
    assert batch["pixel_values_videos"].shape == (4, 8, 3, 64, 64)
    assert batch["input_features"].shape == (4, 40, 201)


# ------------------------------------------------------------------------------------------------------------
# Save / load
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROCESSOR_PRESETS))
def test_save_and_auto_load_round_trip(name: str, tmp_path: Path, generated_clip: Path):
    processor = AVEmotionProcessor.from_preset(name, window_stride_s=0.75)
    processor.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processor_config.json"]
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert set(saved) >= {"video_processor", "feature_extractor", "processor_class", "clip_duration_s"}
    # No filter bank or window in the file: every list in it is a 3-channel mean or std.
    lists = [v for part in saved.values() if isinstance(part, dict) for v in part.values() if isinstance(v, list)]
    assert all(len(v) == 3 for v in lists)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is AVEmotionProcessor
    assert loaded.to_dict() == processor.to_dict()
    expected, actual = processor(paths=[generated_clip]), loaded(paths=[generated_clip])
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    assert type(AutoVideoProcessor.from_pretrained(tmp_path)) is AVEmotionVideoProcessor
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path)) is AVEmotionFeatureExtractor


def test_round_trip_on_a_real_clip_with_face_crop(tmp_path: Path, ravdess_av_clip: Path):
    processor = AVEmotionProcessor.from_preset("cpu_small", face_margin=0.3, n_mels=48, top_db=60.0)
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert loaded.video_processor.face_margin == 0.3 and loaded.feature_extractor.n_mels == 48
    expected, actual = processor(paths=[ravdess_av_clip]), loaded(paths=[ravdess_av_clip])
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)


class TinyAVConfig(PretrainedConfig):
    model_type = "tiny_av_processing_test"


def test_registration_against_an_architecture_config(tmp_path: Path):
    AutoConfig.register(TinyAVConfig.model_type, TinyAVConfig, exist_ok=True)
    register_processor_classes(TinyAVConfig)
    assert PROCESSOR_MAPPING[TinyAVConfig] is AVEmotionProcessor
    TinyAVConfig().save_pretrained(tmp_path)
    AVEmotionProcessor.from_preset("synthetic").save_pretrained(tmp_path)
    assert type(AutoProcessor.from_pretrained(tmp_path)) is AVEmotionProcessor
    # With the processor class name gone from the file, the model config alone resolves it.
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    del saved["processor_class"]
    (tmp_path / "processor_config.json").write_text(json.dumps(saved))
    assert type(AutoProcessor.from_pretrained(tmp_path)) is AVEmotionProcessor


def test_pickles_and_hashes_stably_for_datasets_map(generated_clip: Path):
    # datasets.map(num_proc=...) pickles the processor and caches by its fingerprint: using it must not change it.
    from datasets.fingerprint import Hasher

    processor = AVEmotionProcessor.from_preset("cpu_small")
    before = Hasher.hash(processor)
    processor(str(generated_clip))  # a single path works too
    assert Hasher.hash(processor) == before
    clone = pickle.loads(pickle.dumps(processor))
    assert Hasher.hash(clone) == before and clone.to_dict() == processor.to_dict()


def test_jca_authors_context_preset_reproduces_their_loader(tmp_path):
    # Praveen et al.'s loader: 256-frame windows, 8 sub-clips of 32 frames keeping every 4th frame, about 1 s of
    # audio per sub-clip, 224 x 224 faces.
    processor = AVEmotionProcessor.from_preset("jca2022_authors_context")
    video = processor.video_processor
    assert (video.num_frames, video.size.height, video.size.width) == (64, 224, 224)
    assert processor.clip_duration_s == pytest.approx(256 / 30)
    # 64 frames sampled uniformly from a 256-frame window are every 4th frame, 8 in each 32-frame sub-clip.
    indices = sample_frame_indices(256, video.num_frames)
    assert np.array_equal(indices, 4 * np.arange(64) + 2)
    assert np.array_equal(np.bincount(indices // 32), [8] * 8)
    # The audio of a window, cut into the model's 8 sub-clips, gives about 1 s each.
    path = write_media(tmp_path / "long.mp4", duration_s=10.0, fps=30, size=(48, 64), sampling_rate=44100)
    batch = AVEmotionProcessor.from_preset(
        "jca2022_authors_context", do_face_crop=False, size={"height": 32, "width": 32}
    )(videos=[str(path)], return_tensors="pt")
    assert batch["pixel_values_videos"].shape[:2] == (1, 64)
    seconds_per_subclip = (
        batch["audio_mask"].sum().item() / 8 * processor.feature_extractor.effective_hop_length / 44100
    )
    assert seconds_per_subclip == pytest.approx(256 / 30 / 8, rel=0.02)
