"""Synthetic audio-video emotion corpus: rendered talking faces with emotional expression and prosody.

`generate_corpus` writes real mp4 files (h264 yuv420p video + AAC mono audio) named like RAVDESS
full-AV speech clips, `01-01-EE-II-SS-RR-AA.mp4` (emotion, intensity, statement, repetition, actor),
plus `metadata.jsonl`. Each clip is a cartoon face (skin, hair, eyes, brows, nose, mouth, neck and
shoulders on a background) that says a seven-syllable statement: the waveform is a harmonic voice
source (pitch contour with accents, declination, jitter, tremor) through a time-varying vocal-tract
filter (the formants of each syllable's vowel, spectral tilt), plus breath, consonant noise bursts and
room noise; the mouth opens with the same syllable envelope, so lips and voice are synchronised.

Which modality tells which emotions apart
-----------------------------------------
The corpus is the learnable task that shows training *and fusion* work end to end, so it is built so
that each modality alone confuses emotion pairs and only the two together separate all eight classes.
The face shows one of four expression groups and the voice one of four prosody groups, each shared by
two emotions, and the two pairings differ:

=========  ============================================  ============================================
emotion    face group (what the video shows)             voice group (what the audio carries)
=========  ============================================  ============================================
neutral    relaxed: no displacement                      modal: the actor's own pitch and loudness
calm       relaxed                                       subdued: -3 st, -9 dB, darker, breathy
happy      beaming: brows up, wide eyes, open smile      aroused: +4.5 st, +8 dB, wide accents, bright
surprised  beaming                                       rising: +7 st, terminal rise, tremor, jitter
sad        worried: inner brows up, mouth corners down   subdued
fearful    worried                                       rising
angry      scowling: brows down and in, narrowed eyes,   aroused
           pressed narrow lips, smaller lip movement
disgust    scowling                                      modal
=========  ============================================  ============================================

Confused by the video alone: neutral/calm, happy/surprised, sad/fearful, angry/disgust. Confused by
the audio alone: neutral/disgust, calm/sad, happy/angry, fearful/surprised. The pairs follow the
confusions people and classifiers make on real corpora: calm and neutral faces are nearly identical
in RAVDESS; angry and disgust share lowered brows (AU4) and fear and sadness share the oblique,
inner-raised brows of worry (AU1+AU4); open-mouthed smiles and surprise share raised brows and an open
mouth. In speech, arousal dominates what is audible: angry and happy are both loud, high-pitched and
bright, calm and sad both quiet, low and dark, fear and surprise both high-pitched with rising,
unstable pitch, and disgust is notoriously hard to hear and close to neutral.

Every (face group, voice group) pair belongs to at most one emotion (the emotions form one cycle
face-voice-face-... through all eight), and within a group the two emotions are rendered from
*identical* distributions. So the best possible single-modality accuracy is 50% (a modality can name
the pair, never the emotion in it), while face and voice together determine the emotion (100%, less
what the nuisance hides). Measured in tests/data/test_synthetic.py: HOG features of the mean frame
and pitch/loudness/spectral statistics of the voice, a ridge classifier trained on 4 actors and tested
on 2 held-out ones reaches 0.38-0.56 with either modality alone and 0.96-1.00 fused (seeds 0-3).

What is emotion-independent (nuisance)
--------------------------------------
- Actor identity (from `seed` and the actor number only, so actor 3 looks and sounds the same in
  every corpus built with the same seed): face width and height, skin tone, hair colour and style,
  eye spacing and size, brow thickness, background colours, shirt colour, habitual brow height and
  mouth curvature, expressiveness; voice base pitch (odd actors male-like, 100-130 Hz; even actors
  female-like, 180-225 Hz), vocal-tract length (formant scale), spectral tilt, breathiness.
- Per clip: head position, scale and roll with a slow sway, blinks, lighting, pixel noise, expression
  strength and small per-feature offsets, expression onset time, pitch offset, recording level, room
  noise, speech onset and speaking rate. Speaking rate and pauses are deliberately *not* emotion cues:
  the mouth moves with the syllables, so any timing cue in the voice would also be visible in the
  video and would let the video separate its pairs. Lip-movement amplitude follows the vowels, not
  the loudness, for the same reason.
- Intensity 02 (strong) scales the expression and prosody displacements by
  `SyntheticCorpusConfig.strong_intensity_gain`; the relaxed face and the modal voice have no
  displacement, so intensity leaves them unchanged (neutral has only intensity 01, as in RAVDESS).
- Statement 01 is "Kids are talking by the door" and 02 "Dogs are sitting by the door" (RAVDESS):
  each fixes the vowel sequence (formants and jaw opening) and the syllable stress pattern.

Determinism: `render_clip` draws every random number from a generator seeded by (seed, emotion,
intensity, statement, repetition, actor), and actor identity from (seed, actor), so the arrays are
identical whatever the corpus size, the order or the number of worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from av_emotion.data.labels import RAVDESS_LABELS

__all__ = [
    "EMOTIONS",
    "FACE_GROUPS",
    "VOICE_GROUPS",
    "ActorIdentity",
    "SyntheticClip",
    "SyntheticCorpusConfig",
    "actor_identity",
    "clip_file_name",
    "clip_rng",
    "corpus_plan",
    "generate_corpus",
    "render_clip",
    "write_clip",
]

# RAVDESS emotion labels in code order: code 01 is EMOTIONS[0] ... code 08 is EMOTIONS[7]; label_id = code - 1.
EMOTIONS: tuple[str, ...] = RAVDESS_LABELS

# Which expression the face shows and which prosody the voice has, per emotion (see the module docstring).
FACE_GROUPS: dict[str, str] = {
    "neutral": "relaxed",
    "calm": "relaxed",
    "happy": "beaming",
    "surprised": "beaming",
    "sad": "worried",
    "fearful": "worried",
    "angry": "scowling",
    "disgust": "scowling",
}
VOICE_GROUPS: dict[str, str] = {
    "neutral": "modal",
    "disgust": "modal",
    "calm": "subdued",
    "sad": "subdued",
    "happy": "aroused",
    "angry": "aroused",
    "fearful": "rising",
    "surprised": "rising",
}

# AAC-LC codes audio in frames of exactly 1024 samples (ISO/IEC 14496-3); FFmpeg's native `aac` encoder
# rejects any other frame size except for the last one.
AAC_FRAME_SIZE = 1024
# Sampling rates AAC can signal (ISO/IEC 14496-3 sampling frequency index table).
AAC_SAMPLING_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


@dataclass
class SyntheticCorpusConfig:
    """Size, media format and difficulty of a synthetic corpus.

    Args:
        num_actors: number of "actors" (1-99), numbered 1..num_actors; odd ones male-like, even female-like.
        clips_per_emotion: clips per actor and emotion (classes are balanced, unlike RAVDESS's 4 neutral
            clips against 8 of every other emotion). Clip k of an emotion gets intensity 1 + k % 2
            (always 01 for neutral), then alternates the statement, then counts repetitions.
        duration_s: clip length in seconds, rounded to whole video frames. Our choice: 2.5, which holds
            the seven-syllable statement (about 1.6 s at 4.4 syllables per second) after its 0.1-0.3 s
            onset; RAVDESS clips last about 3.5 s.
        fps: video frame rate (frames per second). Our choice: 20, four to five frames per syllable, so
            the lips visibly open and close on every syllable.
        frame_size: frame height and width in pixels (even, >= 32). Our choice: 64, enough for the
            brows, eyes and mouth to be several pixels tall while small CPU models train in minutes.
        sampling_rate: audio rate in Hz, one AAC supports. Our choice: 16000, the rate of most speech
            encoders; the voice's harmonics stop at 0.45 x sampling_rate.
        seed: master seed; actors and clips derive their generators from it.
        strong_intensity_gain: factor applied to the expression and prosody displacements of
            intensity-02 clips.
        nuisance: scale of every per-clip emotion-independent variation (head motion, blinks, lighting,
            pixel noise, expression strength and onset, speaking rate, pitch offset, recording level,
            room noise...); 0 renders clean clips (actors still differ), 1 is the default difficulty,
            above 1 is harder.
        pixel_noise_std: standard deviation of the Gaussian pixel noise, in 8-bit levels (times nuisance).
        crf: libx264 constant rate factor used by `write_clip`.
    """

    num_actors: int = 6
    clips_per_emotion: int = 4
    duration_s: float = 2.5
    fps: float = 20.0
    frame_size: int = 64
    sampling_rate: int = 16000
    seed: int = 0
    strong_intensity_gain: float = 1.35
    nuisance: float = 1.0
    pixel_noise_std: float = 2.0
    crf: int = 18

    def __post_init__(self) -> None:
        """Check every field, naming the fix."""
        if not 1 <= self.num_actors <= 99:
            raise ValueError(f"num_actors must be in 1..99 (two-digit RAVDESS actor field), got {self.num_actors}")
        if not 1 <= self.clips_per_emotion <= 198:
            raise ValueError(
                f"clips_per_emotion must be in 1..198 (repetition field <= 99), got {self.clips_per_emotion}"
            )
        if self.frame_size < 32 or self.frame_size % 2:
            raise ValueError(
                f"frame_size must be even and >= 32 (h264 yuv420p needs even sizes), got {self.frame_size}"
            )
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if round(self.duration_s * self.fps) < 2:
            raise ValueError(f"duration_s={self.duration_s} gives fewer than 2 frames at fps={self.fps}; use e.g. 2.5")
        if self.sampling_rate not in AAC_SAMPLING_RATES:
            raise ValueError(f"sampling_rate must be one AAC supports {AAC_SAMPLING_RATES}, got {self.sampling_rate}")
        if self.nuisance < 0 or self.pixel_noise_std < 0 or self.strong_intensity_gain <= 0:
            raise ValueError("nuisance and pixel_noise_std must be >= 0 and strong_intensity_gain > 0")

    @property
    def num_frames(self) -> int:
        """Frames per clip: round(duration_s * fps)."""
        return round(self.duration_s * self.fps)

    @property
    def num_samples(self) -> int:
        """Audio samples per clip, matching the video's duration num_frames / fps."""
        return round(self.num_frames * self.sampling_rate / self.fps)

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SyntheticClip:
    """One written clip.

    Attributes:
        path: the mp4 file.
        emotion: one of `EMOTIONS`.
        label_id: index of `emotion` in `EMOTIONS` (RAVDESS emotion code - 1).
        actor: actor number, 1-based (odd male-like, even female-like).
        intensity: 1 normal, 2 strong.
        statement: 1 "Kids are talking by the door", 2 "Dogs are sitting by the door".
        repetition: 1-based repetition number.
        duration_s: duration of the video (and audio) in seconds.
        num_frames: number of video frames.
        face_group: expression group the face shows (`FACE_GROUPS`).
        voice_group: prosody group of the voice (`VOICE_GROUPS`).
    """

    path: Path
    emotion: str
    label_id: int
    actor: int
    intensity: int
    statement: int
    repetition: int
    duration_s: float
    num_frames: int
    face_group: str
    voice_group: str


def clip_file_name(emotion: str, actor: int, intensity: int = 1, statement: int = 1, repetition: int = 1) -> str:
    """RAVDESS-style file name of a full-AV speech clip: `01-01-EE-II-SS-RR-AA.mp4`."""
    code = _emotion_code(emotion)
    return f"01-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.mp4"


def _emotion_code(emotion: str) -> int:
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    return EMOTIONS.index(emotion) + 1


# --------------------------------------------------------------------------------------------------
# Expression and prosody groups
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Expression:
    """Displacement of the face from the actor's relaxed face.

    Vertical quantities are in units of the face's half-height, horizontal ones of its half-width.
    """

    brow_raise: float = 0.0  # both brows up (+) or down (-)
    brow_tilt: float = 0.0  # inner ends up (+, worry) or down (-, scowl) relative to the outer ends
    eye_open: float = 0.0  # relative change of the eye opening
    mouth_corner: float = 0.0  # corners up (+, smile) or down (-)
    mouth_width: float = 0.0  # relative change of the mouth width
    mouth_open: float = 0.0  # opening held between syllables
    lip_motion: float = 0.0  # relative change of the syllable-driven lip movement (pressed lips: < 0)


_EXPRESSIONS: dict[str, _Expression] = {
    "relaxed": _Expression(),
    "beaming": _Expression(brow_raise=0.12, eye_open=0.35, mouth_corner=0.14, mouth_width=0.18, mouth_open=0.12),
    "worried": _Expression(brow_raise=0.04, brow_tilt=0.15, eye_open=0.12, mouth_corner=-0.15, mouth_width=0.06),
    "scowling": _Expression(
        brow_raise=-0.10, brow_tilt=-0.15, eye_open=-0.45, mouth_corner=-0.04, mouth_width=-0.18, lip_motion=-0.4
    ),
}


@dataclass(frozen=True)
class _Prosody:
    """Displacement of the voice from the actor's modal voice."""

    pitch_st: float = 0.0  # mean pitch shift, semitones
    accent_st: float = 0.0  # extra height of the pitch accents on stressed syllables, semitones
    declination_st: float = 0.0  # extra pitch change from the first to the last syllable, semitones
    final_rise_st: float = 0.0  # rise over the last syllable, semitones
    loudness_db: float = 0.0  # level change, dB
    tilt_db_per_octave: float = 0.0  # spectral tilt change: + brighter, - darker
    breathiness: float = 0.0  # aspiration noise added, relative to the voiced amplitude
    jitter: float = 0.0  # extra cycle-to-cycle pitch perturbation, fraction of f0
    tremor_st: float = 0.0  # depth of a 5-7 Hz pitch tremor, semitones


_PROSODIES: dict[str, _Prosody] = {
    "modal": _Prosody(),
    "subdued": _Prosody(
        pitch_st=-3.0, accent_st=-1.2, declination_st=-1.0, loudness_db=-9.0, tilt_db_per_octave=-5.0, breathiness=0.12
    ),
    "aroused": _Prosody(
        pitch_st=4.5, accent_st=3.0, declination_st=1.0, loudness_db=8.0, tilt_db_per_octave=5.0, jitter=0.004
    ),
    "rising": _Prosody(
        pitch_st=7.0,
        accent_st=1.0,
        declination_st=2.5,
        final_rise_st=6.0,
        loudness_db=2.0,
        tilt_db_per_octave=1.0,
        breathiness=0.10,
        jitter=0.012,
        tremor_st=0.8,
    ),
}

# The actor's modal voice: accents, declination, jitter every clip has.
_MODAL_ACCENT_ST = 2.0
_MODAL_DECLINATION_ST = -2.5
_MODAL_JITTER = 0.004
# Level of the modal voice (RMS of the voiced parts), dBFS.
_MODAL_LEVEL_DBFS = -24.0

# Vowel formants F1, F2, F3 in Hz of an adult male voice (rounded from Peterson & Barney 1952 and
# Hillenbrand et al. 1995); actors scale them by their vocal-tract factor.
_VOWEL_FORMANTS: dict[str, tuple[float, float, float]] = {
    "i": (390.0, 1990.0, 2550.0),  # "kids", "sit", "-ing"
    "a": (730.0, 1090.0, 2440.0),  # "are", "by" (onset of the diphthong)
    "o": (570.0, 840.0, 2410.0),  # "talk", "dogs", "door"
    "e": (500.0, 1500.0, 2500.0),  # schwa, "the"
}
_FORMANT_BANDWIDTHS_HZ = (90.0, 110.0, 170.0)
_FORMANT_GAINS = (1.0, 0.55, 0.3)

# RAVDESS statements: vowel and relative duration of each syllable, and which syllables carry stress.
_STATEMENTS: dict[int, tuple[str, tuple[str, ...], tuple[float, ...], tuple[int, ...]]] = {
    1: (
        "Kids are talking by the door",
        ("i", "a", "o", "i", "a", "e", "o"),
        (1.0, 0.6, 1.1, 0.7, 0.9, 0.5, 1.5),
        (1, 0, 1, 0, 0, 0, 1),
    ),
    2: (
        "Dogs are sitting by the door",
        ("o", "a", "i", "i", "a", "e", "o"),
        (1.1, 0.6, 1.0, 0.7, 0.9, 0.5, 1.5),
        (1, 0, 1, 0, 0, 0, 1),
    ),
}


# --------------------------------------------------------------------------------------------------
# Actors
# --------------------------------------------------------------------------------------------------

_SKIN_TONES = np.array(
    [(247, 220, 196), (236, 198, 170), (225, 180, 140), (200, 150, 110), (170, 120, 85), (135, 95, 65)], float
)
_HAIR_COLOURS = np.array(
    [(30, 25, 22), (70, 45, 30), (120, 80, 45), (200, 165, 100), (150, 60, 30), (150, 150, 150)], float
)


@dataclass(frozen=True)
class ActorIdentity:
    """Everything that makes one actor look and sound like themselves (colours are RGB, 0-255).

    Face geometry is in fractions of the frame (sizes) or of the face's half-width / half-height
    (features); voice quantities in Hz, dB per octave and fractions.
    """

    actor: int
    male: bool
    face_half_width: float
    face_half_height: float
    face_center: tuple[float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: int
    iris: tuple[float, float, float]
    lips: tuple[float, float, float]
    shirt: tuple[float, float, float]
    background_top: tuple[float, float, float]
    background_bottom: tuple[float, float, float]
    eye_spacing: float
    eye_size: float
    brow_thickness: float
    habitual_brow: float
    habitual_smile: float
    expressiveness: float
    f0_hz: float
    formant_scale: float
    tilt_db_per_octave: float
    breathiness: float
    vocal_expressiveness: float


def actor_identity(actor: int, seed: int = 0) -> ActorIdentity:
    """Draw actor `actor`'s identity; depends only on (`seed`, `actor`), not on the corpus size."""
    if not 1 <= actor <= 99:
        raise ValueError(f"actor must be in 1..99, got {actor}")
    rng = np.random.default_rng([seed, 7919, actor])
    male = actor % 2 == 1

    def colour(base: np.ndarray, spread: float) -> tuple[float, float, float]:
        return tuple(float(c) for c in np.clip(base + rng.normal(0, spread, 3), 0, 255))

    def muted_colour() -> np.ndarray:
        hue = rng.uniform(0, 1)
        rgb = 0.5 + 0.5 * np.cos(2 * np.pi * (hue + np.array([0.0, 1 / 3, 2 / 3])))
        return 255 * (rng.uniform(0.25, 0.55) + rng.uniform(0.15, 0.35) * rgb)

    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    background = muted_colour()
    return ActorIdentity(
        actor=actor,
        male=male,
        face_half_width=float(rng.uniform(0.25, 0.3)),
        face_half_height=float(rng.uniform(0.33, 0.38)),
        face_center=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.06, -0.02))),
        skin=colour(skin, 6),
        hair=colour(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))], 8),
        hair_style=int(rng.integers(3)),
        iris=colour(np.array([60.0, 45.0, 35.0]) if rng.uniform() < 0.7 else np.array([60.0, 100.0, 140.0]), 10),
        lips=colour(skin * np.array([0.8, 0.55, 0.55]), 6),
        shirt=colour(muted_colour(), 0),
        background_top=colour(background * 1.1, 0),
        background_bottom=colour(background * 0.8, 0),
        eye_spacing=float(rng.uniform(0.34, 0.42)),
        eye_size=float(rng.uniform(0.9, 1.15)),
        brow_thickness=float(rng.uniform(0.05, 0.08)),
        habitual_brow=float(rng.uniform(-0.03, 0.03)),
        habitual_smile=float(rng.uniform(-0.03, 0.03)),
        expressiveness=float(rng.uniform(0.85, 1.15)),
        f0_hz=float(rng.uniform(100, 130) if male else rng.uniform(180, 225)),
        formant_scale=float(rng.uniform(0.95, 1.02) if male else rng.uniform(1.1, 1.18)),
        tilt_db_per_octave=float(rng.uniform(-13, -10)),
        breathiness=float(rng.uniform(0.02, 0.06) if male else rng.uniform(0.04, 0.09)),
        vocal_expressiveness=float(rng.uniform(0.85, 1.15)),
    )


# --------------------------------------------------------------------------------------------------
# Speech: syllable plan, voice synthesis
# --------------------------------------------------------------------------------------------------

_CONTROL_RATE_HZ = 200.0  # rate of the pitch / formant / articulation control tracks


@dataclass(frozen=True)
class _Syllables:
    """Timing of one utterance: starts and durations in seconds, vowel names and stress (1 or 0)."""

    starts: np.ndarray
    durations: np.ndarray
    vowels: tuple[str, ...]
    stress: np.ndarray


def _plan_syllables(statement: int, rng: np.random.Generator, nuisance: float) -> _Syllables:
    """Syllable timing of a statement; emotion-independent (the mouth shows it, see the module docstring)."""
    if statement not in _STATEMENTS:
        raise ValueError(f"statement must be one of {sorted(_STATEMENTS)}, got {statement}")
    _, vowels, relative, stress = _STATEMENTS[statement]
    rate = 4.4 + nuisance * rng.uniform(-0.6, 0.6)  # syllables per second
    onset = 0.2 + nuisance * rng.uniform(-0.1, 0.12)  # seconds of silence before the first syllable
    relative = np.asarray(relative) * (1 + nuisance * rng.uniform(-0.1, 0.1, len(relative)))
    durations = relative / relative.mean() / rate
    starts = onset + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    return _Syllables(starts, durations, vowels, np.asarray(stress, float))


def _syllable_envelopes(syllables: _Syllables, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-syllable vowel envelopes (syllables, len(times)) in [0, 1] and the consonant-burst envelope."""
    vowel = np.zeros((len(syllables.starts), times.size))
    burst = np.zeros(times.size)
    for k, (start, duration) in enumerate(zip(syllables.starts, syllables.durations)):
        consonant = min(0.06, 0.25 * duration)
        # Consonant: a raised-cosine noise burst at the syllable's start.
        x = (times - start) / consonant
        inside = (x >= 0) & (x <= 1)
        burst[inside] += 0.5 - 0.5 * np.cos(2 * np.pi * x[inside])
        # Vowel: from the middle of the consonant to the end of the syllable, sin^0.6 shaped.
        v0 = start + 0.6 * consonant
        x = (times - v0) / (start + duration - v0)
        inside = (x > 0) & (x < 1)
        vowel[k, inside] = np.sin(np.pi * x[inside]) ** 0.6
    return vowel, burst


def _harmonic_source(f0_hz: np.ndarray, sampling_rate: float, max_hz: float) -> np.ndarray:
    """Unit-amplitude sine harmonics of the f0 track (Hz per sample) up to `max_hz`, in closed form.

    sum_{k=1..K} sin(k phi) = sin(K phi / 2) sin((K + 1) phi / 2) / sin(phi / 2), with K = floor(max_hz / f0);
    harmonic K + 1 is faded in by the fractional part so that the sum stays continuous as f0 moves.
    Costs O(samples) whatever the number of harmonics, and nothing aliases above `max_hz` + f0.
    """
    phase = np.mod((2 * np.pi / sampling_rate) * np.cumsum(f0_hz), 2 * np.pi)
    count = max_hz / f0_hz
    whole = np.floor(count)
    half = 0.5 * phase
    denominator = np.sin(half)
    singular = np.abs(denominator) < 1e-9  # phase 0: every sine is 0
    total = np.sin(whole * half) * np.sin((whole + 1) * half) / np.where(singular, 1.0, denominator)
    return np.where(singular, 0.0, total) + (count - whole) * np.sin((whole + 1) * phase)


def _time_varying_filter(
    signal: np.ndarray,
    sampling_rate: float,
    n_fft: int,
    gain_at: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Filter `signal` by a slowly varying magnitude response with a weighted overlap-add STFT.

    `gain_at(frame_times_s (F,), frequencies_hz (B,))` returns the gains (F, B) of each frame. Periodic Hann
    analysis and synthesis windows with a hop of n_fft / 4, whose squares sum to 1.5.
    """
    hop = n_fft // 4
    window = np.hanning(n_fft + 1)[:-1]
    padded = np.pad(signal, (n_fft, n_fft + hop))
    num_frames = 1 + (padded.size - n_fft) // hop
    index = hop * np.arange(num_frames)[:, None] + np.arange(n_fft)[None, :]
    spectra = np.fft.rfft(padded[index] * window, axis=1)
    frame_times = (hop * np.arange(num_frames) + n_fft / 2 - n_fft) / sampling_rate
    spectra *= gain_at(frame_times, np.fft.rfftfreq(n_fft, 1 / sampling_rate))
    parts = (np.fft.irfft(spectra, n_fft, axis=1) * window).reshape(num_frames, 4, hop)
    blocks = np.zeros((num_frames + 3, hop))
    for j in range(4):  # frame i covers the blocks i .. i + 3
        blocks[j : j + num_frames] += parts[:, j]
    return blocks.ravel()[n_fft : n_fft + signal.size] / 1.5


def _synthesize_voice(
    identity: ActorIdentity,
    prosody: _Prosody,
    syllables: _Syllables,
    num_samples: int,
    sampling_rate: int,
    strength: float,
    rng: np.random.Generator,
    nuisance: float,
) -> np.ndarray:
    """Additive harmonic voice with vowel formants, breath, consonant bursts and room noise; (samples,) float32."""
    sr = float(sampling_rate)
    duration = num_samples / sr
    control_times = np.arange(int(np.ceil(duration * _CONTROL_RATE_HZ)) + 2) / _CONTROL_RATE_HZ
    stress_gain = np.where(syllables.stress > 0, 1.0, 0.7)

    # Pitch contour in semitones around the clip's base pitch (control rate).
    first, last = syllables.starts[0], syllables.starts[-1] + syllables.durations[-1]
    progress = np.clip((control_times - first) / (last - first), 0, 1)
    contour = (_MODAL_DECLINATION_ST + strength * prosody.declination_st) * progress
    accent = _MODAL_ACCENT_ST + strength * prosody.accent_st
    for start, dur, stressed in zip(syllables.starts, syllables.durations, syllables.stress):
        if stressed:
            contour += accent * np.exp(-0.5 * ((control_times - start - 0.5 * dur) / (0.35 * dur)) ** 2)
    x = np.clip((control_times - syllables.starts[-1]) / syllables.durations[-1], 0, 1)
    contour += strength * prosody.final_rise_st * x * x * (3 - 2 * x)  # smoothstep over the last syllable
    tremor_hz = rng.uniform(5, 7)
    contour += strength * prosody.tremor_st * np.sin(2 * np.pi * tremor_hz * control_times + rng.uniform(0, 2 * np.pi))
    jitter = _MODAL_JITTER + strength * prosody.jitter
    contour += 12 * np.log2(1 + jitter) * rng.standard_normal(control_times.size)
    pitch_offset_st = strength * prosody.pitch_st + nuisance * rng.normal(0, 0.7)
    f0_control = identity.f0_hz * 2 ** ((pitch_offset_st + contour) / 12)

    # Vocal-tract filter: the formants of the current vowel times the spectral tilt (dB per octave of
    # harmonic number), normalised per frame so that timbre does not change loudness (loudness is its own cue).
    centers = syllables.starts + 0.5 * syllables.durations
    formants = identity.formant_scale * np.stack(
        [np.interp(control_times, centers, [_VOWEL_FORMANTS[v][j] for v in syllables.vowels]) for j in range(3)]
    )
    tilt = identity.tilt_db_per_octave + strength * prosody.tilt_db_per_octave + nuisance * rng.normal(0, 1.0)
    max_hz = 0.45 * sr
    harmonic_numbers = np.arange(1, int(max_hz / f0_control.min()) + 2)

    def vocal_tract_gain(frame_times: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
        f0_frames = np.interp(frame_times, control_times, f0_control)[:, None]
        formant_frames = [np.interp(frame_times, control_times, track)[:, None] for track in formants]

        def response(hz: np.ndarray) -> np.ndarray:
            envelope = 0.01 + sum(
                gain / (1 + ((hz - formant) / bandwidth) ** 2)
                for gain, bandwidth, formant in zip(_FORMANT_GAINS, _FORMANT_BANDWIDTHS_HZ, formant_frames)
            )
            return envelope * (np.maximum(hz, f0_frames) / f0_frames) ** (tilt / (20 * np.log10(2)))

        harmonics_hz = harmonic_numbers[None, :] * f0_frames
        power = 0.5 * (response(harmonics_hz) ** 2 * (harmonics_hz < max_hz)).sum(1, keepdims=True)
        return response(frequencies_hz[None, :]) * (frequencies_hz < max_hz) / np.sqrt(power)

    times = np.arange(num_samples) / sr
    f0 = np.interp(times, control_times, f0_control)
    n_fft = 1 << int(np.ceil(np.log2(0.032 * sr)))  # 32-ms frames or more: resolves the harmonics of 80 Hz
    voiced = _time_varying_filter(_harmonic_source(f0, sr, max_hz), sr, n_fft, vocal_tract_gain)

    vowel_env, burst_env = _syllable_envelopes(syllables, control_times)
    voicing = np.interp(times, control_times, (vowel_env * stress_gain[:, None]).sum(0))
    burst_env = np.interp(times, control_times, burst_env)
    breath_noise = np.diff(rng.standard_normal(num_samples + 1)) / np.sqrt(2)
    breathiness = identity.breathiness + strength * prosody.breathiness
    consonant_noise = np.diff(rng.standard_normal(num_samples + 1)) / np.sqrt(2)
    speech = voicing * (voiced + breathiness * breath_noise) + 0.35 * burst_env * consonant_noise

    level_db = _MODAL_LEVEL_DBFS + strength * prosody.loudness_db + nuisance * rng.normal(0, 1.5)
    room_noise_db = -58 + nuisance * rng.uniform(-6, 6)  # dBFS; at least ~15 dB below the quietest voice
    audio = 10 ** (level_db / 20) * speech + 10 ** (room_noise_db / 20) * rng.standard_normal(num_samples)
    return np.clip(audio, -0.99, 0.99).astype(np.float32)


def _articulation(syllables: _Syllables, frame_times: np.ndarray, frame_duration: float) -> np.ndarray:
    """Jaw opening per video frame in [0, 1]: the vowel envelopes weighted by each vowel's openness (F1).

    Averaged over each frame's exposure interval so that short syllables are not aliased away.
    """
    sub = np.linspace(0, frame_duration, 8, endpoint=False)
    times = (frame_times[:, None] + sub[None, :]).ravel()
    vowel_env, _ = _syllable_envelopes(syllables, times)
    openness = np.array([np.clip((_VOWEL_FORMANTS[v][0] - 250) / 500, 0.25, 1.0) for v in syllables.vowels])
    return (openness[:, None] * vowel_env).sum(0).reshape(frame_times.size, sub.size).mean(1)


# --------------------------------------------------------------------------------------------------
# Face: drawing
# --------------------------------------------------------------------------------------------------

_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are given in 1/16 pixel
_SCALE = 1 << _SHIFT


class _FacePainter:
    """Draws on one frame in face coordinates with OpenCV (anti-aliased, sub-pixel).

    u runs across the face in half-widths (-1 left edge, +1 right edge), v down it in half-heights
    (-1 top, +1 chin); the head's position, size and roll map them to pixels.
    """

    def __init__(self, canvas: np.ndarray, center: np.ndarray, half_width: float, half_height: float, angle_deg: float):
        self.canvas = canvas
        self.center, self.half_width, self.half_height, self.angle_deg = center, half_width, half_height, angle_deg
        self.cos, self.sin = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))

    def pixels(self, u, v) -> np.ndarray:
        """Return the fixed-point pixel coordinates (..., 2) of face points (u, v)."""
        u, v = np.asarray(u, float) * self.half_width, np.asarray(v, float) * self.half_height
        x = self.center[0] + self.cos * u - self.sin * v
        y = self.center[1] + self.sin * u + self.cos * v
        return np.round(np.stack([x, y], -1) * _SCALE).astype(np.int32)

    def ellipse(self, u: float, v: float, a: float, b: float, colour, thickness: int = -1) -> None:
        """Draw an ellipse centred at (u, v), semi-axes a (half-widths) and b (half-heights); filled by default."""
        u, v = u * self.half_width, v * self.half_height
        center = (
            round((self.center[0] + self.cos * u - self.sin * v) * _SCALE),
            round((self.center[1] + self.sin * u + self.cos * v) * _SCALE),
        )
        axes = (max(1, round(a * self.half_width * _SCALE)), max(1, round(b * self.half_height * _SCALE)))
        cv2.ellipse(self.canvas, center, axes, self.angle_deg, 0, 360, colour, thickness, cv2.LINE_AA, _SHIFT)

    def polygon(self, u, v, colour) -> None:
        """Fill the polygon through the points (u[i], v[i])."""
        cv2.fillPoly(self.canvas, [self.pixels(u, v)], colour, cv2.LINE_AA, _SHIFT)

    def polyline(self, u, v, colour, thickness: int = 1) -> None:
        """Draw an open polyline through the points (u[i], v[i])."""
        cv2.polylines(self.canvas, [self.pixels(u, v)], False, colour, thickness, cv2.LINE_AA, _SHIFT)


@dataclass(frozen=True)
class _FaceFrame:
    """What the face does in one frame, in face units (see `_Expression`)."""

    brow_raise: float
    brow_tilt: float
    eye_open: float  # eye opening relative to the actor's relaxed eye (0 closed, 1 relaxed)
    mouth_corner: float
    mouth_width: float
    mouth_open: float  # lip opening, half-heights


def _draw_face(painter: _FacePainter, identity: ActorIdentity, face: _FaceFrame) -> None:
    """Draw body, hair, ears, face, eyes, brows, nose and mouth, back to front."""
    ellipse, polygon = painter.ellipse, painter.polygon
    skin = identity.skin
    dark_skin = tuple(0.85 * c for c in skin)
    outline = tuple(0.35 * c for c in skin)
    brow_colour = tuple(min(0.6 * c, 90.0) for c in identity.hair)
    sclera = (240.0, 238.0, 232.0)
    mouth_inside = (70.0, 20.0, 25.0)

    # Body, hair behind the head, ears, face, hair on top.
    ellipse(0, 2.0, 2.0, 0.75, identity.shirt)
    polygon([-0.32, 0.32, 0.38, -0.38], [0.6, 0.6, 1.5, 1.5], dark_skin)
    if identity.hair_style == 0:
        ellipse(0, -0.1, 1.15, 1.05, identity.hair)
    elif identity.hair_style == 1:
        ellipse(0, -0.25, 1.08, 0.85, identity.hair)
    ellipse(-1.0, -0.02, 0.13, 0.2, dark_skin)
    ellipse(1.0, -0.02, 0.13, 0.2, dark_skin)
    ellipse(0, 0, 1.0, 1.0, skin)
    if identity.hair_style in (0, 1):
        ellipse(0, -0.88, 0.9, 0.25, identity.hair)
    else:
        ellipse(0, -0.93, 0.65, 0.12, identity.hair)

    # Eyes: sclera, iris, outline.
    eye_width = 0.17 * identity.eye_size
    eye_height = max(0.01, 0.10 * identity.eye_size * face.eye_open)
    iris = 0.08 * identity.eye_size
    iris_height = min(iris * identity.face_half_width / identity.face_half_height, eye_height)
    for side in (-1, 1):
        u = side * identity.eye_spacing
        ellipse(u, -0.12, eye_width, eye_height, sclera)
        ellipse(u, -0.12, iris, iris_height, identity.iris)
        ellipse(u, -0.12, eye_width, eye_height, outline, 1)

    # Brows: outer, middle and inner points; tilt raises the inner ends (worry) or lowers them (scowl).
    base = -0.36 - identity.habitual_brow - face.brow_raise
    inner, outer = base - face.brow_tilt, base + 0.3 * face.brow_tilt
    middle = 0.5 * (inner + outer) - 0.04
    half = 0.5 * identity.brow_thickness
    for side in (-1, 1):
        u = side * np.array([0.62, 0.40, 0.14, 0.14, 0.40, 0.62])
        v = np.array([outer, middle, inner, inner, middle, outer]) + half * np.array([-1, -1, -1, 1, 1, 1])
        polygon(u, v, brow_colour)

    # Nose shadow.
    ellipse(0, 0.2, 0.09, 0.05, outline if skin[0] < 150 else dark_skin)

    # Mouth: lips around an opening between two parabolas through the corners.
    width = 0.30 * (1 + face.mouth_width)
    corner = 0.47 - identity.habitual_smile - face.mouth_corner
    x = np.linspace(-1, 1, 9)
    bow = 1 - x * x
    upper = corner + (0.47 - 0.3 * face.mouth_open - corner) * bow
    lower = corner + (0.47 + 0.7 * face.mouth_open - corner) * bow
    u = np.concatenate([width * x, width * x[::-1]])
    polygon(u, np.concatenate([upper - 0.06 * bow, (lower + 0.08 * bow)[::-1]]), identity.lips)
    if face.mouth_open > 0.02:
        polygon(u, np.concatenate([upper, lower[::-1]]), mouth_inside)
    else:
        painter.polyline(width * x, upper, mouth_inside)


def _render_frames(
    identity: ActorIdentity,
    expression: _Expression,
    strength: float,
    articulation: np.ndarray,
    frame_times: np.ndarray,
    frame_size: int,
    pixel_noise_std: float,
    rng: np.random.Generator,
    nuisance: float,
) -> np.ndarray:
    """Draw the talking face; (T, S, S, 3) uint8 RGB."""
    size = frame_size
    num_frames = frame_times.size

    # Per-clip nuisance: head placement and sway, blinks, lighting, expression onset and small offsets.
    offset = nuisance * rng.normal(0, 0.0125, 2)
    head_scale = 1 + nuisance * rng.uniform(-0.03, 0.03)
    roll_deg = nuisance * rng.normal(0, 1.5)
    sway_freq = rng.uniform(0.2, 0.7, (3, 2))
    sway_phase = rng.uniform(0, 2 * np.pi, (3, 2))
    sway = nuisance * np.sin(2 * np.pi * sway_freq[:, :, None] * frame_times + sway_phase[:, :, None]).sum(1)
    sway *= np.array([0.005, 0.005, 0.75])[:, None]  # x, y in frame fractions; roll in degrees
    duration = frame_times[-1] + (frame_times[1] - frame_times[0] if num_frames > 1 else 0.05)
    blink_times = rng.uniform(0, duration, rng.poisson(0.4 * nuisance * duration))
    blink = np.ones(num_frames)
    for t in blink_times:
        blink = np.minimum(blink, 1 - 0.95 * np.exp(-(((frame_times - t) / 0.05) ** 2)))
    light_gain = 1 + nuisance * rng.uniform(-0.05, 0.05)
    light_cast = nuisance * rng.normal(0, 2.0, 3)
    onset = nuisance * rng.uniform(0, 0.15)
    ramp = np.clip((frame_times - onset) / 0.3, 0, 1)
    jitters = nuisance * rng.normal(0, [0.008, 0.008, 0.025, 0.008, 0.025])

    # The expression's displacements, faded in by the onset ramp; the lips also move with the syllables.
    e = expression
    displacement = strength * np.array([e.brow_raise, e.brow_tilt, e.eye_open, e.mouth_corner, e.mouth_width])
    displacements = ramp[:, None] * (displacement + jitters)  # (T, 5)
    lip_motion = max(0.1, 1 + strength * e.lip_motion)
    opening = ramp * strength * e.mouth_open + 0.22 * lip_motion * articulation

    # Background: a vertical gradient between the actor's two colours.
    shade = np.linspace(0, 1, size)[:, None, None]
    background = (1 - shade) * np.array(identity.background_top) + shade * np.array(identity.background_bottom)
    background = np.broadcast_to(background, (size, size, 3)).astype(np.uint8)

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frames[t] = background
        painter = _FacePainter(
            frames[t],
            center=size * (0.5 + np.array(identity.face_center) + offset + sway[:2, t]),
            half_width=size * identity.face_half_width * head_scale,
            half_height=size * identity.face_half_height * head_scale,
            angle_deg=roll_deg + sway[2, t],
        )
        brow_raise, brow_tilt, eye_open, mouth_corner, mouth_width = displacements[t]
        _draw_face(
            painter,
            identity,
            _FaceFrame(brow_raise, brow_tilt, (1 + eye_open) * blink[t], mouth_corner, mouth_width, opening[t]),
        )

    if nuisance > 0:
        lit = frames.astype(np.float32) * light_gain + light_cast.astype(np.float32)
        lit += (nuisance * pixel_noise_std) * rng.standard_normal(lit.shape[:3] + (1,), dtype=np.float32)
        frames = np.clip(np.round(lit), 0, 255).astype(np.uint8)
    return frames


# --------------------------------------------------------------------------------------------------
# Public rendering API
# --------------------------------------------------------------------------------------------------


def clip_rng(
    seed: int, emotion: str, actor: int, intensity: int, statement: int, repetition: int
) -> np.random.Generator:
    """Return the random generator of one clip, seeded by its identity so that corpora are order-independent."""
    return np.random.default_rng([seed, _emotion_code(emotion), intensity, statement, repetition, actor])


def render_clip(
    emotion: str,
    actor: int,
    *,
    intensity: int = 1,
    statement: int = 1,
    repetition: int = 1,
    config: SyntheticCorpusConfig | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one talking-face clip.

    Args:
        emotion: one of `EMOTIONS`.
        actor: actor number (1-99); identity comes from (`config.seed`, `actor`).
        intensity: 1 normal, 2 strong (scales the expression and prosody by `config.strong_intensity_gain`).
        statement: 1 or 2 (vowels and stress pattern of the RAVDESS statements).
        repetition: repetition number; only changes the random draw.
        config: sizes, rates and difficulty; defaults to `SyntheticCorpusConfig()`.
        rng: generator for the clip's nuisance; defaults to `clip_rng(config.seed, ...)` (deterministic).

    Returns:
        frames: uint8 (T, H, W, 3) RGB, T = `config.num_frames`, H = W = `config.frame_size`.
        audio: float32 (samples,) mono in [-1, 1] at `config.sampling_rate`, samples = `config.num_samples`
            (the same duration as the video).
    """
    config = config or SyntheticCorpusConfig()
    _emotion_code(emotion)
    if intensity not in (1, 2):
        raise ValueError(f"intensity must be 1 (normal) or 2 (strong), got {intensity}")
    if not 1 <= repetition <= 99:
        raise ValueError(f"repetition must be in 1..99, got {repetition}")
    identity = actor_identity(actor, config.seed)
    if rng is None:
        rng = clip_rng(config.seed, emotion, actor, intensity, statement, repetition)
    gain = config.strong_intensity_gain if intensity == 2 else 1.0
    nuisance = config.nuisance

    syllables = _plan_syllables(statement, rng, nuisance)
    vocal_strength = gain * identity.vocal_expressiveness * (1 + nuisance * rng.normal(0, 0.1))
    audio = _synthesize_voice(
        identity,
        _PROSODIES[VOICE_GROUPS[emotion]],
        syllables,
        config.num_samples,
        config.sampling_rate,
        vocal_strength,
        rng,
        nuisance,
    )
    frame_times = np.arange(config.num_frames) / config.fps
    articulation = _articulation(syllables, frame_times, 1 / config.fps)
    facial_strength = gain * identity.expressiveness * (1 + nuisance * rng.normal(0, 0.06))
    frames = _render_frames(
        identity,
        _EXPRESSIONS[FACE_GROUPS[emotion]],
        facial_strength,
        articulation,
        frame_times,
        config.frame_size,
        config.pixel_noise_std,
        rng,
        nuisance,
    )
    return frames, audio


# --------------------------------------------------------------------------------------------------
# Writing mp4
# --------------------------------------------------------------------------------------------------


def write_clip(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    audio: np.ndarray,
    fps: float,
    sampling_rate: int,
    *,
    crf: int = 18,
    audio_bit_rate: int = 64_000,
) -> Path:
    """Write RGB frames and a mono waveform to an mp4 file (h264 yuv420p + AAC) with PyAV.

    Args:
        path: output file; its parent folder must exist. The container is mp4 whatever the suffix.
        frames: uint8 array (T, H, W, 3), RGB. Odd H or W are padded by one replicated row/column,
            because yuv420p subsamples chroma by 2 and libx264 needs even sizes.
        audio: float array (samples,), mono, values in [-1, 1] (clipped there), at `sampling_rate`.
        fps: video frame rate in frames per second; the video lasts T / fps seconds.
        sampling_rate: audio rate in Hz (one AAC supports: 8000 ... 96000, e.g. 16000).
        crf: libx264 constant rate factor (0 lossless ... 51 worst); 18 is visually near lossless.
        audio_bit_rate: AAC bit rate in bits per second.

    Returns:
        The path written.

    The AAC encoder's priming delay is recorded in the mp4 edit list, so decoders (PyAV included)
    return the first sample at time 0; the stream's duration is the exact number of samples, but
    decoders may return up to one AAC frame (1024 samples) of padding after it: trim decoded audio to
    `stream.duration * stream.time_base` seconds.
    """
    path = Path(path)
    frames = np.asarray(frames)
    audio = np.asarray(audio)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"{path}: frames must have shape (T, H, W, 3) with T >= 1, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(
            f"{path}: frames must be uint8 RGB, got {frames.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"{path}: audio must be a non-empty mono waveform of shape (samples,), got {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{path}: audio contains NaN or infinite samples")
    if not fps > 0:
        raise ValueError(f"{path}: fps must be positive, got {fps}")
    if int(sampling_rate) != sampling_rate or sampling_rate <= 0:
        raise ValueError(f"{path}: sampling_rate must be a positive integer in Hz, got {sampling_rate}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist; create it first")

    # Pad odd sizes by replicating the last row / column (yuv420p needs even width and height).
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    audio = np.clip(audio.astype(np.float32), -1.0, 1.0)
    rate = Fraction(fps).limit_denominator(1001)

    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        # The muxer replaces the stream's time base when it writes the header, so frames keep their own.
        frame_time_base = 1 / rate
        video.time_base = frame_time_base
        # One key frame a second keeps seeking cheap; one thread because corpora are written one clip per
        # worker process; no B-frames so that packets come out in presentation order.
        video.codec_context.gop_size = max(1, round(float(rate)))
        video.codec_context.max_b_frames = 0
        video.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}

        sound = container.add_stream("aac", rate=int(sampling_rate))
        sound.layout = "mono"
        sound.bit_rate = audio_bit_rate

        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            frame.time_base = frame_time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))

        for start in range(0, audio.size, AAC_FRAME_SIZE):
            chunk = audio[start : start + AAC_FRAME_SIZE]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = int(sampling_rate)
            frame.pts = start
            frame.time_base = Fraction(1, int(sampling_rate))
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path


# --------------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------------

METADATA_FILE = "metadata.jsonl"


def corpus_plan(config: SyntheticCorpusConfig) -> list[tuple[str, int, int, int, int]]:
    """Every clip of a corpus as (emotion, actor, intensity, statement, repetition), actor-major.

    Clip k of an emotion: intensity 1 + k % 2, statement 1 + (k // 2) % 2, repetition 1 + k // 4;
    neutral has only intensity 1 (as in RAVDESS): statement 1 + k % 2, repetition 1 + k // 2.
    """
    plan = []
    for actor in range(1, config.num_actors + 1):
        for emotion in EMOTIONS:
            for k in range(config.clips_per_emotion):
                if emotion == "neutral":
                    plan.append((emotion, actor, 1, 1 + k % 2, 1 + k // 2))
                else:
                    plan.append((emotion, actor, 1 + k % 2, 1 + (k // 2) % 2, 1 + k // 4))
    return plan


def _render_and_write(
    out_dir: Path,
    config: SyntheticCorpusConfig,
    emotion: str,
    actor: int,
    intensity: int,
    statement: int,
    repetition: int,
) -> SyntheticClip:
    frames, audio = render_clip(
        emotion, actor, intensity=intensity, statement=statement, repetition=repetition, config=config
    )
    path = out_dir / clip_file_name(emotion, actor, intensity, statement, repetition)
    write_clip(path, frames, audio, config.fps, config.sampling_rate, crf=config.crf)
    return SyntheticClip(
        path=path,
        emotion=emotion,
        label_id=EMOTIONS.index(emotion),
        actor=actor,
        intensity=intensity,
        statement=statement,
        repetition=repetition,
        duration_s=config.num_frames / config.fps,
        num_frames=config.num_frames,
        face_group=FACE_GROUPS[emotion],
        voice_group=VOICE_GROUPS[emotion],
    )


def _metadata_row(clip: SyntheticClip, out_dir: Path, config: SyntheticCorpusConfig) -> dict:
    row = dataclasses.asdict(clip)
    # Relative path, so the folder can be moved; `label` / `speaker` are the generic manifest columns.
    row["path"] = clip.path.relative_to(out_dir).as_posix()
    row["label"] = clip.emotion
    row["speaker"] = clip.actor
    row["gender"] = "male" if clip.actor % 2 else "female"
    row["fps"] = config.fps
    row["sampling_rate"] = config.sampling_rate
    row["frame_size"] = config.frame_size
    row["seed"] = config.seed
    row["config"] = config.to_dict()
    return row


def generate_corpus(
    out_dir: str | os.PathLike[str],
    config: SyntheticCorpusConfig | None = None,
    num_workers: int = 1,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int, SyntheticClip], None] | None = None,
) -> list[SyntheticClip]:
    """Render and write a whole synthetic corpus, plus `out_dir/metadata.jsonl` (one row per clip).

    Args:
        out_dir: folder to write into (created if missing).
        config: corpus size, media format and difficulty; defaults to `SyntheticCorpusConfig()`.
        num_workers: processes rendering and encoding clips in parallel (1: in this process). The clips
            are identical whatever the number of workers.
        overwrite: allow writing into a folder that already holds a `metadata.jsonl`.
        progress: called after each clip as progress(done, total, clip).

    Returns:
        The clips in `corpus_plan` order (actor, then emotion, then clip index).

    Each metadata row holds the clip's fields (`path` relative to `out_dir`), the manifest columns
    `label` and `speaker`, and the seed and full config used.
    """
    config = config or SyntheticCorpusConfig()
    out_dir = Path(out_dir)
    metadata_path = out_dir / METADATA_FILE
    if metadata_path.exists() and not overwrite:
        raise FileExistsError(
            f"{metadata_path} exists: {out_dir} already holds a corpus; pass overwrite=True (CLI: --overwrite) "
            "or choose another folder"
        )
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = corpus_plan(config)
    clips: list[SyntheticClip] = []
    if num_workers == 1:
        for item in plan:
            clips.append(_render_and_write(out_dir, config, *item))
            if progress is not None:
                progress(len(clips), len(plan), clips[-1])
    else:
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            futures = [pool.submit(_render_and_write, out_dir, config, *item) for item in plan]
            for future in futures:
                clips.append(future.result())
                if progress is not None:
                    progress(len(clips), len(plan), clips[-1])

    # Write the metadata last and atomically: a folder with metadata.jsonl holds a complete corpus.
    partial = metadata_path.with_suffix(".jsonl.partial")
    with open(partial, "w", encoding="utf-8") as f:
        for clip in clips:
            f.write(json.dumps(_metadata_row(clip, out_dir, config)) + "\n")
    os.replace(partial, metadata_path)
    return clips
