"""Configuration of the Joint Cross-Attention model (Praveen et al., CVPRW 2022).

R. Gnana Praveen et al., "A Joint Cross-Attention Model for Audio-Visual Fusion in Dimensional Emotion
Recognition", CVPR Workshops (ABAW3) 2022, arXiv:2203.14779. Where the paper gives a value it is cited
below as "paper"; where it is silent and the authors' CVPRW code fixes it, as "authors' code"; anything
else is marked "our choice" with the reason.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from av_emotion.data.labels import RAVDESS_LABELS as RAVDESS_EMOTIONS  # the 8 RAVDESS emotions, code order
from av_emotion.modeling.outputs import KEYS_TO_IGNORE_AT_INFERENCE

# The regression head always predicts these two affect dimensions, in this order, in [-1, 1].
REGRESSION_TARGETS = ("valence", "arousal")


@strict
class JointCrossAttentionConfig(PretrainedConfig):
    r"""Configuration of [`JointCrossAttentionModel`] and its emotion heads.

    A clip is `num_subclips` (L) sub-clips of `frames_per_subclip` (F) face frames each, so the video input
    has `T = L * F` frames; the log-mel spectrogram of the same clip is cut into L equal segments. Each
    sub-clip gives one visual and one audio feature vector; the joint cross-attention fuses the two
    sequences of L vectors.

    Args:
        num_subclips (`int`, *optional*, defaults to 8):
            L, the sub-clips per clip. The fusion weights act on the time axis (`W_ja` is L x L), so L is
            fixed per model. Authors' code: the CVPRW fusion has 8 x 8 time-axis weights.
        frames_per_subclip (`int`, *optional*, defaults to 8):
            F, frames per sub-clip fed to the visual 3D CNN. Paper: 8-frame sub-clips.
        num_channels (`int`, *optional*, defaults to 3):
            Colour channels of the face frames.
        image_size (`int`, *optional*, defaults to 112):
            Side of the square face crops the processor produces, in pixels. Paper: 112 x 112 aligned faces.
            The backbone pools globally, so other sizes run too; this is the size the processor preset uses.
        num_mel_bins (`int`, *optional*, defaults to 64):
            Mel bands of the log-mel input. Paper: 64 mels (44.1 kHz, 20 ms window, 10 ms hop, top_db 80;
            the processor's "jca2022" preset reproduces that front end).
        vision_encoder_config (`dict` or `PreTrainedConfig`, *optional*):
            A transformers vision model in place of `visual_backbone` (our addition, issue 14): an image model (ViT,
            ConvNeXt, ...) runs on every frame and its features are averaged over each sub-clip's valid frames; a
            video model (VideoMAE, ...) runs on each sub-clip (`frames_per_subclip` must be its `num_frames`).
        audio_encoder_config (`dict` or `PreTrainedConfig`, *optional*):
            A transformers speech model (wav2vec2, HuBERT, WavLM) on the waveform in place of the ResNet-18: its
            frames are cut into the L sub-clips and averaged. The input is then `input_features` `(B, 1,
            samples)` (processor `feature_type="waveform"`), so `num_mel_bins` is 1.
        visual_backbone (`str`, *optional*, defaults to `"resnet3d"`):
            `"resnet3d"`: the paper's 3D CNN over each sub-clip (the `visual_*` fields below). `"mini_xception"`:
            a frame encoder (Arriaga et al. 2017, the FER2013 face-expression model `av-emotion convert` reads from
            Keras) over every frame, averaged over the sub-clip's frames; our addition, a real pretrained
            face-expression branch (frames normalised to [-1, 1]: image_mean = image_std = 0.5).
        mini_xception_channels (`tuple[int, ...]`, *optional*, defaults to `(8, 8, 16, 32, 64, 128)`):
            Widths of mini-Xception's stem convolutions and residual modules (the FER2013 model's).
        mini_xception_num_classes (`int`, *optional*, defaults to 7):
            Classes of mini-Xception's own classifier, kept so the branch also predicts expressions.
        visual_depth (`int`, *optional*, defaults to 18):
            Depth of the visual ResNet (10, 18 or 34). Paper: R(2+1)D-18 (or I3D).
        visual_widths (`tuple[int, ...]`, *optional*, defaults to `(64, 128, 256, 512)`):
            Channel widths of the four visual stages. Paper: the standard R(2+1)D-18 widths, so dv = 512.
        visual_conv_type (`str`, *optional*, defaults to `"2plus1d"`):
            `"2plus1d"` (R(2+1)D, paper) or `"3d"` (R3D).
        visual_temporal_downsample (`bool`, *optional*, defaults to `True`):
            Whether stages 2-4 halve time as well as space (standard R(2+1)D-18).
        visual_backbone_layout (`str`, *optional*, defaults to `"default"`):
            `"torchvision"` builds the R(2+1)D exactly as torchvision's `r2plus1d_18` (factorised stem with 45
            intermediate channels, one intermediate width per block), so its Kinetics-400 weights load
            (`av-emotion convert`); `"default"` uses Tran et al.'s per-convolution widths and a 3x7x7 stem.
        audio_depth (`int`, *optional*, defaults to 18):
            Depth of the 1-channel 2D ResNet over each sub-clip's log-mel segment. Paper: ResNet-18.
        audio_widths (`tuple[int, ...]`, *optional*, defaults to `(64, 128, 256, 512)`):
            Channel widths of the four audio stages (da = 512 as in the paper's ResNet-18).
        audio_stem_pool (`bool`, *optional*, defaults to `True`):
            Keep the ImageNet stem's 3x3 max-pool in the audio ResNet, as in a standard ResNet-18.
        fusion_hidden_size (`int`, *optional*, defaults to 128):
            d, the width both modalities are projected to before fusion (so J is L x 2d). Authors' code:
            `Linear(512, 128)` per modality.
        attention_hidden_size (`int`, *optional*, defaults to 32):
            k, the rows of the attention maps H_a, H_v (k x d). Authors' code: 32.
        head_hidden_size (`int`, *optional*, defaults to 128):
            Hidden width of each prediction head (valence, arousal, or the categorical head). Authors'
            code: 128.
        head_dropout (`float`, *optional*, defaults to 0.6):
            Dropout inside each prediction head. Authors' code: 0.6.
        initializer_gain (`float`, *optional*, defaults to 1.0):
            Gain of the Xavier-uniform initialisation of the fusion and head weights (authors' code:
            Xavier uniform, gain 1). Convolutions use He (fan-out) initialisation as in standard ResNets.
        ccc_epsilon (`float`, *optional*, defaults to 1e-8):
            Added to the CCC denominator so constant predictions give CCC 0 instead of NaN. Our choice.
        regression_output_activation (`str`, *optional*, defaults to `"tanh"`):
            Applied to each regression head's output: `"tanh"` or `"none"`. The paper names no output
            non-linearity and the authors' heads end in a plain linear layer (`"none"`). Our choice, `"tanh"`:
            valence and arousal are annotated in [-1, 1] and a bounded output cannot drift outside it.
        regression_loss_targets (`list[str]`, *optional*, defaults to `["valence", "arousal"]`):
            Which regression outputs the CCC loss trains: the loss is the sum of (1 - CCC) over these. The
            paper reports the loss summed over valence and arousal; the authors' code trains one dimension per
            model, which `["valence"]` or `["arousal"]` reproduces (the other head is then untrained). Our
            choice: both, one model for the two dimensions.

    The classification head reads `id2label` / `num_labels` (default: the 8 RAVDESS emotions); the
    regression head always predicts `REGRESSION_TARGETS` = (valence, arousal) and sets
    `problem_type="regression"`.

    Example:
    ```python
    >>> from av_emotion import JointCrossAttentionConfig, JointCrossAttentionForEmotionRegression
    >>> config = JointCrossAttentionConfig()  # paper sizes: 8 sub-clips x 8 frames, d = 128
    >>> model = JointCrossAttentionForEmotionRegression(config)
    ```
    """

    model_type = "joint_cross_attention"
    # Optional transformers encoders, composed the way transformers composes multimodal configs.
    sub_configs_defaults = {
        "vision_encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="vit", optional=True),
        "audio_encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="wav2vec2", optional=True),
    }
    # Trainer passes `compute_metrics` the logits alone (branch logits, embeddings, maps are for analysis).
    keys_to_ignore_at_inference = KEYS_TO_IGNORE_AT_INFERENCE

    # Input layout
    num_subclips: int = 8
    frames_per_subclip: int = 8
    num_channels: int = 3
    image_size: int = 112
    num_mel_bins: int = 64

    # Optional transformers encoders (sub-configs), in place of the backbones below
    vision_encoder_config: dict | PreTrainedConfig | None = None
    audio_encoder_config: dict | PreTrainedConfig | None = None

    # Visual backbone: R(2+1)D-18 on face crops (paper), or a per-frame mini-Xception
    visual_backbone: str = "resnet3d"
    mini_xception_channels: list[int] | tuple[int, ...] = (8, 8, 16, 32, 64, 128)
    mini_xception_num_classes: int = 7
    visual_depth: int = 18
    visual_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    visual_conv_type: str = "2plus1d"
    visual_temporal_downsample: bool = True
    visual_backbone_layout: str = "default"

    # Audio backbone: 1-channel ResNet-18 on log-mel
    audio_depth: int = 18
    audio_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    audio_stem_pool: bool = True

    # Joint cross-attention fusion
    fusion_hidden_size: int = 128
    attention_hidden_size: int = 32

    # Heads and training
    head_hidden_size: int = 128
    head_dropout: float | int = 0.6
    initializer_gain: float | int = 1.0
    ccc_epsilon: float = 1e-8
    regression_output_activation: str = "tanh"
    regression_loss_targets: list[str] | tuple[str, ...] = REGRESSION_TARGETS

    def __post_init__(self, **kwargs):
        # Default categorical labels: the RAVDESS emotions, unless the caller chose labels.
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(RAVDESS_EMOTIONS))
            self.label2id = {name: index for index, name in self.id2label.items()}
        self.visual_widths = list(self.visual_widths)
        self.mini_xception_channels = [int(width) for width in self.mini_xception_channels]
        self.audio_widths = list(self.audio_widths)
        self.regression_loss_targets = list(self.regression_loss_targets)
        super().__post_init__(**kwargs)
        if self.audio_encoder_config is not None:
            if self.num_mel_bins not in (1, 64):  # 64: the log-mel default, replaced by the waveform
                raise ValueError(
                    f"with an audio_encoder_config the input is the waveform (num_mel_bins 1), got "
                    f"num_mel_bins={self.num_mel_bins}"
                )
            self.num_mel_bins = 1

    def validate_joint_cross_attention(self):
        """Reject sizes the model cannot be built with, naming the field."""
        for name in (
            "num_subclips",
            "frames_per_subclip",
            "num_channels",
            "image_size",
            "num_mel_bins",
            "fusion_hidden_size",
            "attention_hidden_size",
            "head_hidden_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"JointCrossAttentionConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("visual_widths", "audio_widths"):
            if len(getattr(self, name)) != 4:
                raise ValueError(
                    f"JointCrossAttentionConfig.{name} must give 4 stage widths, got {getattr(self, name)}"
                )
        if self.visual_conv_type not in ("2plus1d", "3d"):
            raise ValueError(f"visual_conv_type must be '2plus1d' or '3d', got {self.visual_conv_type!r}")
        if self.visual_backbone not in ("resnet3d", "mini_xception"):
            raise ValueError(f"visual_backbone must be 'resnet3d' or 'mini_xception', got {self.visual_backbone!r}")
        if self.visual_backbone_layout not in ("default", "torchvision"):
            raise ValueError(
                f"visual_backbone_layout must be 'default' or 'torchvision', got {self.visual_backbone_layout!r}"
            )
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        if self.regression_output_activation not in ("tanh", "none"):
            raise ValueError(
                f"regression_output_activation must be 'tanh' or 'none', got {self.regression_output_activation!r}"
            )
        targets = self.regression_loss_targets
        if not targets or len(set(targets)) != len(targets) or not set(targets) <= set(REGRESSION_TARGETS):
            raise ValueError(
                f"regression_loss_targets must be a non-empty subset of {list(REGRESSION_TARGETS)} without repeats, "
                f"got {targets}"
            )
        if self.ccc_epsilon <= 0:
            raise ValueError(f"ccc_epsilon must be > 0, got {self.ccc_epsilon}")

    @property
    def num_frames(self) -> int:
        """Frames per clip the model expects: `num_subclips * frames_per_subclip`."""
        return self.num_subclips * self.frames_per_subclip


__all__ = ["REGRESSION_TARGETS", "RAVDESS_EMOTIONS", "JointCrossAttentionConfig"]
