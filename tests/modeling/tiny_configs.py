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
}
