"""Pipelines: `pipeline("audio-video-emotion", model=...)` once `av_emotion` is imported.

Importing this package registers the task with `transformers.pipelines.PIPELINE_REGISTRY`, so no
`trust_remote_code` is needed.
"""

from transformers.pipelines import PIPELINE_REGISTRY

from av_emotion.pipelines.audio_video_emotion import (
    AudioVideoEmotionPipeline,
    AutoModelForAudioVideoEmotion,
    NoFaceWarning,
    collate_chunks,
    is_regression_config,
)
from av_emotion.registration import PIPELINE_TASK, PipelineTaskEntry

_entry = PIPELINE_REGISTRY.supported_tasks.get(PIPELINE_TASK)
if not isinstance(_entry, PipelineTaskEntry) or "impl" not in _entry:
    # Absent, or the placeholder `av_emotion.registration` put there before this module was needed.
    PIPELINE_REGISTRY.supported_tasks.pop(PIPELINE_TASK, None)
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK,
        pipeline_class=AudioVideoEmotionPipeline,
        # Reads the checkpoint's config and loads its classification or regression head (see the class).
        pt_model=AutoModelForAudioVideoEmotion,
        type="multimodal",
    )
    # No default checkpoint: the entry's missing "default" raises an error naming the fix.
    _entry = PipelineTaskEntry(PIPELINE_REGISTRY.supported_tasks[PIPELINE_TASK])
    PIPELINE_REGISTRY.supported_tasks[PIPELINE_TASK] = _entry
    AudioVideoEmotionPipeline._registered_impl = {PIPELINE_TASK: _entry}

__all__ = [
    "PIPELINE_TASK",
    "AudioVideoEmotionPipeline",
    "AutoModelForAudioVideoEmotion",
    "NoFaceWarning",
    "collate_chunks",
    "is_regression_config",
]
