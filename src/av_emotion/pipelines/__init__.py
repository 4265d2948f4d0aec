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


class _TaskWithoutDefaultModel(dict):
    """The registry entry of a task that has no default checkpoint: asking for one names the fix.

    `transformers.pipeline(task)` without `model=` reads `entry["default"]`; a plain dict raises a bare
    `KeyError: 'default'` there.
    """

    def __missing__(self, key: str):
        if key == "default":
            raise ValueError(
                f'pipeline("{PIPELINE_TASK}") needs a model: pass model="path/or/user/repo", a folder written by '
                "`av-emotion train` (or save_pretrained) or a Hub repo of an av_emotion model; there is no default "
                "checkpoint"
            )
        raise KeyError(key)


if PIPELINE_TASK not in PIPELINE_REGISTRY.supported_tasks:
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK,
        pipeline_class=AudioVideoEmotionPipeline,
        # Reads the checkpoint's config and loads its classification or regression head (see the class).
        pt_model=AutoModelForAudioVideoEmotion,
        type="multimodal",
    )
    _entry = _TaskWithoutDefaultModel(PIPELINE_REGISTRY.supported_tasks[PIPELINE_TASK])
    PIPELINE_REGISTRY.supported_tasks[PIPELINE_TASK] = _entry
    AudioVideoEmotionPipeline._registered_impl = {PIPELINE_TASK: _entry}

__all__ = [
    "PIPELINE_TASK",
    "AudioVideoEmotionPipeline",
    "AutoModelForAudioVideoEmotion",
    "collate_chunks",
    "is_regression_config",
]
