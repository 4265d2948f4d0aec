"""Media decoding, face cropping, and the multimodal processor shared by training and inference.

Importing this package registers `AVEmotionVideoProcessor`, `AVEmotionFeatureExtractor` and `AVEmotionProcessor`
with `AutoVideoProcessor`, `AutoFeatureExtractor` and `AutoProcessor`.
"""

from av_emotion.processing.faces import (
    FaceCropper,
    FaceCropResult,
    FaceResolutionFrameSize,
    ProbedFace,
    crop_largest_face,
)
from av_emotion.processing.feature_extraction import AVEmotionFeatureExtractor
from av_emotion.processing.media import (
    DecodedClip,
    LongClipWarning,
    MediaError,
    MediaInfo,
    MediaLimits,
    TruncatedMediaWarning,
    decode_clip,
    iter_windows,
    probe_media,
    sample_frame_times,
)
from av_emotion.processing.presets import PROCESSOR_PRESETS
from av_emotion.processing.processor import AVEmotionProcessor, SilentAudioWarning, register_processor_classes
from av_emotion.processing.video_processing import AVEmotionVideoProcessor

register_processor_classes()

__all__ = [
    "PROCESSOR_PRESETS",
    "AVEmotionFeatureExtractor",
    "AVEmotionProcessor",
    "AVEmotionVideoProcessor",
    "DecodedClip",
    "FaceCropResult",
    "FaceCropper",
    "FaceResolutionFrameSize",
    "MediaError",
    "MediaInfo",
    "LongClipWarning",
    "MediaLimits",
    "ProbedFace",
    "SilentAudioWarning",
    "TruncatedMediaWarning",
    "crop_largest_face",
    "decode_clip",
    "iter_windows",
    "probe_media",
    "register_processor_classes",
    "sample_frame_times",
]
