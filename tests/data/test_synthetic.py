"""Synthetic corpus: the mp4 writer, the renderer, the corpus layout, and the fusion property."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from av_emotion.cli import main
from av_emotion.data import synthetic
from av_emotion.data.synthetic import EMOTIONS, SyntheticCorpusConfig, generate_corpus, render_clip, write_clip


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


# --------------------------------------------------------------------------------------------------
# Renderer
# --------------------------------------------------------------------------------------------------


def test_render_clip_shapes_and_determinism():
    config = SyntheticCorpusConfig(duration_s=1.0, fps=10, frame_size=48)
    frames, audio = render_clip("happy", 3, intensity=2, statement=2, config=config)
    assert frames.shape == (10, 48, 48, 3) and frames.dtype == np.uint8
    assert audio.shape == (16000,) and audio.dtype == np.float32
    assert np.abs(audio).max() <= 1.0 and np.sqrt(np.mean(audio**2)) > 0.01  # audible speech, no clipping

    # Same seed and clip fields: identical arrays, whatever was rendered before.
    render_clip("sad", 1, config=config)
    again = render_clip("happy", 3, intensity=2, statement=2, config=config)
    assert np.array_equal(frames, again[0]) and np.array_equal(audio, again[1])
    # An explicit generator is used instead of the clip's own.
    a = render_clip("happy", 3, config=config, rng=np.random.default_rng(5))
    b = render_clip("happy", 3, config=config, rng=np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # Another seed, repetition or actor changes the clip.
    other_seed = render_clip("happy", 3, intensity=2, statement=2, config=dataclasses.replace(config, seed=1))
    other_repetition = render_clip("happy", 3, intensity=2, statement=2, repetition=2, config=config)
    for other in (other_seed, other_repetition):
        assert not np.array_equal(frames, other[0]) and not np.array_equal(audio, other[1])


def test_actors_have_stable_distinct_identities():
    assert synthetic.actor_identity(3, seed=0) == synthetic.actor_identity(3, seed=0)
    assert synthetic.actor_identity(3, seed=0) != synthetic.actor_identity(3, seed=1)
    identities = [synthetic.actor_identity(actor) for actor in range(1, 9)]
    assert len({identity.skin for identity in identities}) == 8
    # Odd actors male-like (lower voice), even actors female-like.
    assert all(i.male == (i.actor % 2 == 1) for i in identities)
    assert max(i.f0_hz for i in identities if i.male) < min(i.f0_hz for i in identities if not i.male)


def test_config_and_inputs_are_checked():
    with pytest.raises(ValueError, match="even"):
        SyntheticCorpusConfig(frame_size=63)
    with pytest.raises(ValueError, match="AAC"):
        SyntheticCorpusConfig(sampling_rate=15000)
    with pytest.raises(ValueError, match="num_actors"):
        SyntheticCorpusConfig(num_actors=0)
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        render_clip("joy", 1)
    with pytest.raises(ValueError, match="statement"):
        render_clip("sad", 1, statement=3)
    with pytest.raises(ValueError, match="intensity"):
        render_clip("sad", 1, intensity=3)


@pytest.mark.parametrize(("emotion", "actor"), [("neutral", 2), ("calm", 5)])
def test_mouth_moves_with_the_syllables(emotion, actor):
    """Lip movement follows the loudness of the voice frame by frame (lag 0), measured on the pixels."""
    # A relaxed face without nuisance: no head motion, no blinks, no expression onset; only the mouth moves.
    config = SyntheticCorpusConfig(duration_s=2.5, fps=20, frame_size=64, nuisance=0.0)
    frames, audio = render_clip(emotion, actor, config=config)
    gray = frames.astype(np.float32).mean(-1)
    moving = gray.std(0) >= np.quantile(gray.std(0), 0.98)  # the pixels that change most: the mouth
    rows = np.flatnonzero(moving.any(1))
    assert rows.min() > config.frame_size // 2  # in the lower half of the frame
    mouth = np.abs(gray[:, moving] - gray[0, moving]).mean(1)  # frame 0 is before speech starts
    per_frame = audio[: config.num_frames * (audio.size // config.num_frames)].reshape(config.num_frames, -1)
    loudness = np.sqrt((per_frame**2).mean(1))
    lags = range(-3, 4)
    correlation = [np.corrcoef(np.roll(mouth, lag)[3:-3], loudness[3:-3])[0, 1] for lag in lags]
    assert list(lags)[int(np.argmax(correlation))] == 0
    assert max(correlation) > 0.7


# --------------------------------------------------------------------------------------------------
# Corpus on disk
# --------------------------------------------------------------------------------------------------


def _parse_ravdess_name(name: str) -> dict:
    modality, channel, emotion, intensity, statement, repetition, actor = (int(x) for x in name[:-4].split("-"))
    assert (modality, channel) == (1, 1)  # full-AV speech
    return {
        "emotion": EMOTIONS[emotion - 1],
        "intensity": intensity,
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
    }


def test_generate_corpus_round_trip(tmp_path):
    config = SyntheticCorpusConfig(num_actors=2, clips_per_emotion=2, duration_s=1.2, fps=12.5, frame_size=48)
    seen = []
    clips = generate_corpus(tmp_path, config, progress=lambda done, total, clip: seen.append((done, total)))
    assert len(clips) == 2 * 8 * 2 and seen[-1] == (32, 32)
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == sorted(c.path.name for c in clips)
    assert len({c.path.name for c in clips}) == len(clips)
    assert {c.intensity for c in clips if c.emotion == "neutral"} == {1}  # as in RAVDESS
    assert {(c.intensity, c.statement) for c in clips if c.emotion == "angry"} == {(1, 1), (2, 1)}

    rows = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == len(clips)
    for row, clip in zip(rows, clips):
        fields = _parse_ravdess_name(row["path"])
        assert fields == {k: row[k] for k in fields}
        assert row["emotion"] == clip.emotion == row["label"] and row["label_id"] == EMOTIONS.index(clip.emotion)
        assert row["actor"] == clip.actor == row["speaker"]
        assert row["gender"] == ("male" if clip.actor % 2 else "female")
        assert row["seed"] == 0 and row["config"] == config.to_dict()
        assert row["face_group"] == synthetic.FACE_GROUPS[clip.emotion]

    for clip in clips[::5]:
        frames, samples, info = _decode(clip.path)
        assert frames.shape == (config.num_frames, 48, 48, 3) == (15, 48, 48, 3)
        assert info["fps"] == 12.5 and info["sampling_rate"] == 16000 and info["channels"] == 1
        assert abs(info["audio_duration_s"] - clip.duration_s) < 1 / config.fps
        assert abs(frames.shape[0] / info["fps"] - clip.duration_s) < 1 / config.fps
    # The files hold what the renderer drew and synthesised.
    clip = clips[7]
    frames, samples, _ = _decode(clip.path)
    rendered_frames, rendered_audio = render_clip(
        clip.emotion,
        clip.actor,
        intensity=clip.intensity,
        statement=clip.statement,
        repetition=clip.repetition,
        config=config,
    )
    assert np.abs(frames.astype(float) - rendered_frames).mean() < 4.0
    assert np.corrcoef(samples, rendered_audio)[0, 1] > 0.95

    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate_corpus(tmp_path, config)


def test_generate_corpus_with_workers_matches_one_process(tmp_path):
    config = SyntheticCorpusConfig(num_actors=1, clips_per_emotion=1, duration_s=0.6, fps=10, frame_size=32)
    serial = generate_corpus(tmp_path / "serial", config)
    parallel = generate_corpus(tmp_path / "parallel", config, num_workers=2)
    assert [c.path.name for c in serial] == [c.path.name for c in parallel]
    for a, b in zip(serial, parallel):
        frames_a, audio_a, _ = _decode(a.path)
        frames_b, audio_b, _ = _decode(b.path)
        assert np.array_equal(frames_a, frames_b) and np.array_equal(audio_a, audio_b)


def test_synth_command(tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["synth", "--out", str(out), "--actors", "1", "--clips-per-emotion", "1", "--duration", "0.5"]
    argv += ["--size", "32", "--fps", "10", "--seed", "4"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "[8/8]" in captured.err and "wrote 8 clips" in captured.out
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and rows[0]["seed"] == 4 and rows[0]["frame_size"] == 32
    # A second run into the same folder is refused unless asked to overwrite; bad sizes name the fix.
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert main(["synth", "--out", str(tmp_path / "x"), "--size", "33"]) == 2
    assert "even" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# The fusion property, measured with simple hand-crafted features on held-out actors
# --------------------------------------------------------------------------------------------------


def _face_features(frames: np.ndarray) -> np.ndarray:
    """HOG (Dalal & Triggs; OpenCV: 16-px blocks, 8-px cells, 9 bins) of the clip's mean grey frame."""
    mean = np.clip(frames.astype(np.float32).mean((0, 3)), 0, 255).astype(np.uint8)
    return cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9).compute(mean).ravel()


def _voice_features(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Pitch, loudness and spectral-shape statistics of the voiced 50-ms frames (10-ms hop)."""
    window, hop = int(0.05 * sampling_rate), int(0.01 * sampling_rate)
    taper = np.hanning(window)
    frames = np.lib.stride_tricks.sliding_window_view(audio, window)[::hop] * taper
    n_fft = 1 << int(np.ceil(np.log2(2 * window)))
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    energy_db = 10 * np.log10((frames**2).mean(1) + 1e-10)
    # Pitch: autocorrelation peak between 50 and 500 Hz, divided by the window's own autocorrelation
    # (Boersma 1993) so that periodicity ("clarity") is near 1 for a clean voice at any pitch.
    autocorrelation = np.fft.irfft(power, axis=1)
    taper_autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(taper, n_fft)) ** 2)
    taper_autocorrelation /= taper_autocorrelation[0]
    low, high = sampling_rate // 500, sampling_rate // 50
    normalised = autocorrelation[:, low:high] / (autocorrelation[:, :1] + 1e-12) / taper_autocorrelation[low:high]
    lag = low + np.argmax(normalised, axis=1)
    clarity = normalised.max(1)
    voiced = (energy_db > energy_db.max() - 20) & (clarity > 0.5)
    assert voiced.sum() >= 10, "the pitch tracker found (almost) no voiced frame"
    semitones = 12 * np.log2(sampling_rate / lag[voiced] / 100.0)
    tail = semitones[int(0.8 * semitones.size) :].mean() - semitones.mean()
    # Spectral shape: energy in 8 log-spaced bands relative to their mean (tilt / brightness).
    freqs = np.fft.rfftfreq(n_fft, 1 / sampling_rate)
    edges = np.geomspace(100, 0.95 * sampling_rate / 2, 9)
    bands = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    bands = 10 * np.log10(bands[voiced] + 1e-10).mean(0)
    pitch = [semitones.mean(), semitones.std(), np.ptp(np.percentile(semitones, [10, 90])), tail]
    return np.concatenate([pitch, [np.abs(np.diff(semitones)).mean(), energy_db[voiced].mean()], bands - bands.mean()])


def _standardise_per_actor(features: np.ndarray, actors: np.ndarray) -> np.ndarray:
    """Speaker normalisation: z-score every feature over each actor's clips (uses no labels)."""
    out = np.empty_like(features, dtype=float)
    for actor in np.unique(actors):
        rows = actors == actor
        out[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-6)
    # Each modality gets the same total variance, so that 1764 HOG values do not drown 14 prosody values.
    return out / np.sqrt(features.shape[1])


def _ridge_classifier(x_train, y_train, x_test, num_classes=8, l2=1.0):
    """Regularised least squares on centred one-hot targets, solved in the dual (more features than clips)."""
    mean = x_train.mean(0)
    x_train, x_test = x_train - mean, x_test - mean
    targets = np.eye(num_classes)[y_train] - 1 / num_classes
    dual = np.linalg.solve(x_train @ x_train.T + l2 * np.eye(len(x_train)), targets)
    return (x_test @ (x_train.T @ dual)).argmax(1)


def test_only_fusion_separates_all_emotions():
    """Face alone and voice alone each confuse emotion pairs; together they separate all eight.

    6 actors x 8 emotions x 2 clips at the default difficulty; 3 folds, each training on 4 actors and
    testing on the 2 held-out ones (one male-like, one female-like).
    """
    config = SyntheticCorpusConfig(num_actors=6, clips_per_emotion=2, fps=10)
    face, voice, labels, actors = [], [], [], []
    for emotion, actor, intensity, statement, repetition in synthetic.corpus_plan(config):
        frames, audio = render_clip(
            emotion, actor, intensity=intensity, statement=statement, repetition=repetition, config=config
        )
        face.append(_face_features(frames))
        voice.append(_voice_features(audio, config.sampling_rate))
        labels.append(EMOTIONS.index(emotion))
        actors.append(actor)
    labels, actors = np.array(labels), np.array(actors)
    face = _standardise_per_actor(np.array(face), actors)
    voice = _standardise_per_actor(np.array(voice), actors)

    def held_out_predictions(features):
        predictions = np.empty_like(labels)
        for fold in range(3):
            test = (actors - 1) // 2 == fold
            predictions[test] = _ridge_classifier(features[~test], labels[~test], features[test])
        return predictions

    predictions = {
        "video": held_out_predictions(face),
        "audio": held_out_predictions(voice),
        "fusion": held_out_predictions(np.concatenate([face, voice], 1)),
    }
    accuracy = {name: float((p == labels).mean()) for name, p in predictions.items()}
    assert accuracy["fusion"] >= 0.9, accuracy
    assert accuracy["video"] <= accuracy["fusion"] - 0.15, accuracy
    assert accuracy["audio"] <= accuracy["fusion"] - 0.15, accuracy

    # Each modality does carry its half: the face group from the video, the voice group from the audio.
    for groups, name in ((synthetic.FACE_GROUPS, "video"), (synthetic.VOICE_GROUPS, "audio")):
        names = sorted(set(groups.values()))
        group_of = np.array([names.index(groups[emotion]) for emotion in EMOTIONS])
        assert (group_of[predictions[name]] == group_of[labels]).mean() >= 0.9, (name, accuracy)
    # Within a group the two emotions are drawn from the same distribution: a classifier trained on one
    # modality to tell the pair apart stays at chance on held-out actors (n = 96, so 0.7 is 4 sigma).
    for features, groups in ((face, synthetic.FACE_GROUPS), (voice, synthetic.VOICE_GROUPS)):
        correct = 0
        for group in set(groups.values()):
            first, second = (EMOTIONS.index(e) for e in EMOTIONS if groups[e] == group)
            rows = np.isin(labels, [first, second])
            pair_labels, pair_actors, pair_features = (labels[rows] == second).astype(int), actors[rows], features[rows]
            for fold in range(3):
                test = (pair_actors - 1) // 2 == fold
                guess = _ridge_classifier(pair_features[~test], pair_labels[~test], pair_features[test], num_classes=2)
                correct += (guess == pair_labels[test]).sum()
        assert correct / len(labels) < 0.7
    # ... and the errors are the designed pairs: a wrong video guess keeps the face group, and so on.
    for groups, name in ((synthetic.FACE_GROUPS, "video"), (synthetic.VOICE_GROUPS, "audio")):
        wrong = predictions[name] != labels
        same_group = [
            groups[EMOTIONS[p]] == groups[EMOTIONS[t]] for p, t in zip(predictions[name][wrong], labels[wrong])
        ]
        assert np.mean(same_group) >= 0.8, (name, accuracy)
