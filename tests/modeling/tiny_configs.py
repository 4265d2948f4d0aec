"""Tiny configurations per architecture, for tests that must run in seconds on a CPU.

One entry per registered `model_type`: the keyword arguments of its config class. The parametrized
architecture test fails for any registered architecture that has no entry here.
"""

TINY_CONFIGS: dict[str, dict] = {
    # 16x16 frames (the smallest the EfficientFace stem takes), 4 audio features, widths of 4-16, 2 heads.
    # Inputs: pixel_values_videos (B, T, 3, 16, 16), input_features (B, 4, L >= 5).
    "avt_ca": dict(
        num_audio_features=4,
        visual_stage_repeats=[1, 1, 1],
        visual_stage_channels=[4, 8, 8, 8, 16],
        modulator_reduction_ratio=4,
        spatial_attention_num_convs=1,
        video_stage1_channels=[8],
        video_stage2_channels=[8],
        audio_stage1_channels=[8],
        audio_stage2_channels=[8],
        fusion_num_heads=2,
        cross_attention_num_heads=2,
        num_frames=4,
        image_size=16,
    ),
    # Joint Cross-Attention (Praveen et al. 2022): 2 sub-clips of 2 frames, 16-pixel faces, 16 mel bins, d = 8.
    "joint_cross_attention": {
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
    },
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
