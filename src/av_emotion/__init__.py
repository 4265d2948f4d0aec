"""av_emotion: audio-video emotion recognition models for the Hugging Face ecosystem.

Importing the package registers every architecture with the `transformers` Auto classes, the processor
classes with `AutoProcessor`/`AutoVideoProcessor`/`AutoFeatureExtractor`, and the
`"audio-video-emotion"` pipeline, so `AutoModel.from_pretrained(...)` and
`pipeline("audio-video-emotion", ...)` work without `trust_remote_code`.
"""

from av_emotion.modeling import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    AVEmotionOutput,
)
from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification, AVTCAModel

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "AVEmotionOutput",
    "AVTCAConfig",
    "AVTCAForEmotionClassification",
    "AVTCAModel",
    "AutoModelForAudioVideoClassification",
    "AutoModelForAudioVideoRegression",
    "__version__",
]
