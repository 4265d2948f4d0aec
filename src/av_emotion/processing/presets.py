"""Named input recipes: each is nothing but the settings of an `AVEmotionProcessor`.

`AVEmotionProcessor.from_preset(name, **overrides)` builds one; `PROCESSOR_PRESETS[name]` is the plain dict. Every
number that shapes a model's input (frame count and size, face crop, clip length, sampling rate, spectrogram
parameters) is here or in an override, never in a script. Where a paper states a value it is cited; where it is
silent the value is marked "our choice".
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROCESSOR_PRESETS", "describe_preset"]

# Kinetics-400 statistics, used by the video backbones pretrained on Kinetics (R(2+1)D-18, I3D, 3D ResNets).
KINETICS_MEAN = [0.43216, 0.394666, 0.37645]
KINETICS_STD = [0.22803, 0.22145, 0.216989]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

PROCESSOR_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Mocanu, Tapu & Zaharia 2023 (DESIGN 4.1). The paper does not publish its input recipe; this is our reading:
    # the whole clip (RAVDESS/CREMA-D utterances, 2-5 s) as 32 face frames = 4 snippets of 8 frames for the 3D
    # ResNet-18, at 112 x 112 (the size 3D ResNets are pretrained at on Kinetics); audio as a 64-band log-mel
    # spectrogram at 16 kHz with the common speech framing (25 ms windows, 10 ms hop), top_db 80.
    "mocanu2023": {
        "video_processor": {
            "num_frames": 32,
            "do_face_crop": True,
            "size": {"height": 112, "width": 112},
            "image_mean": KINETICS_MEAN,
            "image_std": KINETICS_STD,
        },
        "feature_extractor": {
            "feature_type": "log_mel",
            "sampling_rate": 16000,
            "n_mels": 64,
            "n_fft": 512,
            "win_length_ms": 25.0,
            "hop_length_ms": 10.0,
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": None},
    },
    # Praveen et al. 2022, JCA (DESIGN 4.2): 112 x 112 aligned faces in 8-frame sub-clips for R(2+1)D-18 /
    # I3D; log-mel at 44.1 kHz, n_fft 1024, 20 ms windows, 10 ms hop, 64 mels, AmplitudeToDB top_db 80.
    # Our reading of the sequence: L = 8 sub-clips of 8 frames, i.e. 64 frames over 64 / 30 s (consecutive
    # frames of a 30 fps video), which is the window length below: 4x shorter than the authors' loader, whose
    # context "jca2022_authors_context" reproduces; this one fits 3-4 s acted utterances (RAVDESS, CREMA-D).
    "jca2022": {
        "video_processor": {
            "num_frames": 64,
            "do_face_crop": True,
            "size": {"height": 112, "width": 112},
            "image_mean": KINETICS_MEAN,
            "image_std": KINETICS_STD,
        },
        "feature_extractor": {
            "feature_type": "log_mel",
            "sampling_rate": 44100,
            "n_mels": 64,
            "n_fft": 1024,
            "win_length_ms": 20.0,
            "hop_length_ms": 10.0,
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": 64 / 30, "clip_position": "center"},
    },
    # Praveen et al. 2022, JCA, with the authors' temporal context (their Aff-Wild2 loader): windows of 256
    # consecutive frames (8.53 s at 30 fps) cut into 8 sub-clips of 32 frames, of which every 4th frame is kept
    # (8 per sub-clip, 64 per window: uniform sampling of 64 frames over 256 takes frames 2, 6, 10, ...), 224 x
    # 224 faces, and about 1 s of audio per sub-clip (each model sub-clip's audio is its 1/8 of the window,
    # 1.07 s). Same audio front end as "jca2022". Use with `JointCrossAttentionConfig(image_size=224)` (8
    # sub-clips of 8 frames, the default) and, on Aff-Wild2, one valence/arousal target per sub-clip. The
    # "jca2022" preset above keeps a 4x shorter window (consecutive frames) so that it fits 3-4 s utterances.
    "jca2022_authors_context": {
        "video_processor": {
            "num_frames": 64,
            "do_face_crop": True,
            "size": {"height": 224, "width": 224},
            "image_mean": KINETICS_MEAN,
            "image_std": KINETICS_STD,
        },
        "feature_extractor": {
            "feature_type": "log_mel",
            "sampling_rate": 44100,
            "n_mels": 64,
            "n_fft": 1024,
            "win_length_ms": 20.0,
            "hop_length_ms": 10.0,
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": 256 / 30, "clip_position": "center"},
    },
    # AVT-CA 2024 (DESIGN 4.3), whose public code follows katerynaCh/multimodal-emotion-recognition: 15 face
    # frames at 224 x 224 over 3.6 s; 10 MFCCs at 22.05 kHz with librosa's defaults (n_fft 2048, hop 512,
    # 128 Slaney mel bands, power spectrogram in dB with top_db 80). Our choice: both modalities come from the
    # same centred 3.6 s window, and ImageNet statistics for the EfficientFace-style stem.
    "avt_ca2024": {
        "video_processor": {
            "num_frames": 15,
            "do_face_crop": True,
            "size": {"height": 224, "width": 224},
            "image_mean": IMAGENET_MEAN,
            "image_std": IMAGENET_STD,
        },
        "feature_extractor": {
            "feature_type": "mfcc",
            "sampling_rate": 22050,
            "n_mfcc": 10,
            "n_mels": 128,
            "n_fft": 2048,
            "win_length": 2048,
            "hop_length": 512,
            "win_length_ms": None,
            "hop_length_ms": None,
            "mel_scale": "slaney",
            "mel_norm": "slaney",
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": 3.6, "clip_position": "center"},
    },
    # AVT-CA's recipe with the FER2013 mini-Xception stem (visual_backbone="mini_xception"): the same 15 frames and
    # MFCCs, but face crops at the 64 x 64 the FER2013 model was trained on, scaled to [-1, 1] (x / 255 - 0.5) * 2
    # as in its training code (mean = std = 0.5; the stem turns RGB into luma).
    "avt_ca2024_fer2013": {
        "video_processor": {
            "num_frames": 15,
            "do_face_crop": True,
            "size": {"height": 64, "width": 64},
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
        },
        "feature_extractor": {
            "feature_type": "mfcc",
            "sampling_rate": 22050,
            "n_mfcc": 10,
            "n_mels": 128,
            "n_fft": 2048,
            "win_length": 2048,
            "hop_length": 512,
            "win_length_ms": None,
            "hop_length_ms": None,
            "mel_scale": "slaney",
            "mel_norm": "slaney",
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": 3.6, "clip_position": "center"},
    },
    # Our choice: small inputs that train in minutes on a CPU (8 face frames at 64 x 64, 40 mels at 16 kHz,
    # 3 s centred window).
    "cpu_small": {
        "video_processor": {
            "num_frames": 8,
            "do_face_crop": True,
            "size": {"height": 64, "width": 64},
            "image_mean": IMAGENET_MEAN,
            "image_std": IMAGENET_STD,
        },
        "feature_extractor": {
            "feature_type": "log_mel",
            "sampling_rate": 16000,
            "n_mels": 40,
            "n_fft": 400,
            "win_length_ms": 25.0,
            "hop_length_ms": 10.0,
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": 3.0, "clip_position": "center"},
    },
    # The synthetic corpus (av_emotion.data.synthetic): rendered faces fill the frame and a Haar cascade would
    # not find them, so no face crop; frames resized to 64 x 64; 16 kHz audio, 40 mels; the whole clip.
    "synthetic": {
        "video_processor": {
            "num_frames": 8,
            "do_face_crop": False,
            "size": {"height": 64, "width": 64},
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
        },
        "feature_extractor": {
            "feature_type": "log_mel",
            "sampling_rate": 16000,
            "n_mels": 40,
            "n_fft": 400,
            "win_length_ms": 25.0,
            "hop_length_ms": 10.0,
            "top_db": 80.0,
        },
        "processor": {"clip_duration_s": None},
    },
}


def describe_preset(name: str) -> dict[str, dict[str, Any]]:
    """Return a copy of the settings of preset `name` (raises `KeyError` naming the known presets)."""
    if name not in PROCESSOR_PRESETS:
        raise KeyError(f"unknown processor preset {name!r}; known presets: {sorted(PROCESSOR_PRESETS)}")
    return {part: dict(values) for part, values in PROCESSOR_PRESETS[name].items()}
