"""Tiny configurations per architecture, for tests that must run in seconds on a CPU.

One entry per registered `model_type`: the keyword arguments of its config class. The parametrized
architecture test fails for any registered architecture that has no entry here.
"""

TINY_CONFIGS: dict[str, dict] = {
    # About 18k parameters; 2 snippets of 2 frames (32-px frames from `dummy_inputs`), 16 mel bins,
    # widths of 4-8. No stem max-pool in the audio ResNet so a 32-frame snippet keeps 2 positions
    # (batch norm needs more than one value per channel in training, even for a batch of one snippet).
    "av_metric_fusion": {
        "num_snippets": 2,
        "frames_per_snippet": 2,
        "num_mel_bins": 16,
        "video_resnet_depth": 10,
        "video_resnet_widths": [4, 8, 8, 8],
        "channel_attention_reduction": 2,
        "spatial_attention_hidden_size": 8,
        "audio_resnet_depth": 10,
        "audio_resnet_widths": [4, 8, 8, 8],
        "audio_stem_pool": False,
        "hidden_size": 8,
        "num_attention_heads": 2,
        "fusion_hidden_size": 8,
    },
}
