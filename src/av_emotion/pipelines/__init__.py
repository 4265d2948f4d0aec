"""Pipelines: `pipeline("audio-video-emotion", model=...)` once `av_emotion` is imported.

Importing this package registers the task with `transformers.pipelines.PIPELINE_REGISTRY`, so no
`trust_remote_code` is needed.
"""

from transformers.pipelines import PIPELINE_REGISTRY

from av_emotion.pipelines.audio_video_emotion import (
    AudioVideoEmotionPipeline,
    AutoModelForAudioVideoEmotion,
    collate_chunks,
    is_regression_config,
)

PIPELINE_TASK = "audio-video-emotion"

if PIPELINE_TASK not in PIPELINE_REGISTRY.supported_tasks:
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK,
        pipeline_class=AudioVideoEmotionPipeline,
        # Reads the checkpoint's config and loads its classification or regression head (see the class).
        pt_model=AutoModelForAudioVideoEmotion,
        type="multimodal",
    )

__all__ = [
    "PIPELINE_TASK",
    "AudioVideoEmotionPipeline",
    "AutoModelForAudioVideoEmotion",
    "collate_chunks",
    "is_regression_config",
]
