import av_emotion
from av_emotion.modeling import ARCHITECTURES


def test_version_and_public_api():
    assert av_emotion.__version__
    for name in av_emotion.__all__:
        assert hasattr(av_emotion, name), name


def test_registry_is_a_mapping_of_architectures():
    for model_type, arch in ARCHITECTURES.items():
        assert arch.config_class.model_type == model_type
