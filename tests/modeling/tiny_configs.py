"""Tiny configurations per architecture, for tests that must run in seconds on a CPU.

One entry per registered `model_type`: the keyword arguments of its config class. The parametrized
architecture test fails for any registered architecture that has no entry here.
"""

TINY_CONFIGS: dict[str, dict] = {}

# Joint Cross-Attention (Praveen et al. 2022): 2 sub-clips of 2 frames, 16-pixel faces, 16 mel bins, d = 8.
TINY_CONFIGS["joint_cross_attention"] = {
    "num_subclips": 2,
    "frames_per_subclip": 2,
    "image_size": 16,
    "num_mel_bins": 16,
    "visual_depth": 10,
    "visual_widths": [4, 4, 8, 8],
    "audio_depth": 10,
    "audio_widths": [4, 4, 8, 8],
    "fusion_hidden_size": 8,
    "attention_hidden_size": 4,
    "head_hidden_size": 8,
    "head_dropout": 0.0,
}
