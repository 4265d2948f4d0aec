"""Read the Keras HDF5 mini-Xception (FER2013, oarriaga/face_classification) into `MiniXceptionEncoder` tensors.

The file holds the whole Keras model: its graph as JSON in the `model_config` attribute, and the weights under
`model_weights/<layer>/` (names listed in each group's `weight_names` attribute). Nothing in it is executed: the
graph is read as data, and only the layer types mini-Xception uses are accepted. Layers are matched to ours by
the graph, not by their auto-generated names (`conv2d_3`, `batch_normalization_7`, ... depend on the session
that built the model):

* the two unpadded 3x3 `Conv2D` on the input chain -> `stem.0`, `stem.3`; the `BatchNormalization` reading a
  layer -> the norm after it (`stem.1`, `stem.4`, `blocks.i.bn1`, `blocks.i.bn2`, `blocks.i.residual.1`);
* each strided 1x1 `Conv2D` starts residual module i -> `blocks.i.residual.0`; the `SeparableConv2D` layers
  reading the same input, then the first one's output, -> `blocks.i.depthwise1/pointwise1`, `...2`;
* the `Conv2D` with a bias -> `classifier`.

Layouts: Keras kernels are `(kh, kw, in, out)` -> torch `(out, in, kh, kw)`; depthwise kernels
`(kh, kw, in, multiplier)` -> `(in * multiplier, 1, kh, kw)`; batch norm `gamma, beta, moving_mean,
moving_variance` -> `weight, bias, running_mean, running_var`.

`h5py` is needed only here (the `keras` optional extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from av_emotion.modeling.modules.mini_xception import MiniXceptionEncoder

SUPPORTED_LAYERS = {
    "InputLayer",
    "Conv2D",
    "BatchNormalization",
    "Activation",
    "SeparableConv2D",
    "MaxPooling2D",
    "Add",
    "GlobalAveragePooling2D",
}
# FER2013 class order (Goodfellow et al. 2013), the order of the model's 7 outputs.
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# FER2013 classes in av_emotion's emotion names (RAVDESS / CREMA-D, `av_emotion.data.labels`). The map is one to
# one; RAVDESS "calm" has no FER2013 class (a calm clip can only be scored as a miss), and CREMA-D has no
# "surprised", so a FER2013 "surprise" on CREMA-D is always a miss.
FER2013_TO_EMOTION = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}

# The licence of the FER2013 mini-Xception weights (oarriaga/face_classification), reproduced in every model card
# made from them, as the MIT License requires.
FER2013_MINI_XCEPTION_LICENSE = """\
MIT License

Copyright (c) 2017 Octavio

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

MODEL_CARD_NOTICE = (
    "The visual encoder was converted from the Keras model `fer2013_mini_XCEPTION.102-0.66.hdf5` of "
    'oarriaga/face_classification: mini-Xception (Arriaga, Valdenegro-Toro & Plöger, "Real-time Convolutional '
    'Neural Networks for Emotion and Gender Classification", arXiv:1710.07557, 2017) trained on FER2013 '
    '(Goodfellow et al., ICONIP 2013; about 66% test accuracy). FER2013 has no "calm": its 7 classes are angry, '
    "disgust, fear, happy, sad, surprise, neutral. The weights are used under the MIT License:"
)


def _import_h5py():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading a Keras HDF5 model needs h5py: pip install 'av-emotion[keras]' (or pip install h5py)"
        ) from error
    return h5py


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_keras_model(path: str | Path) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Return the Keras layers (config order) and `{layer: {weight name: array}}` of an HDF5 model file.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: not a Keras HDF5 model, or a layer type outside mini-Xception's.
    """
    h5py = _import_h5py()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Keras model file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 file ({error})") from error
    with handle:
        if "model_config" not in handle.attrs or "model_weights" not in handle:
            raise ValueError(
                f"{path}: not a whole Keras model (no model_config / model_weights); save it with model.save"
            )
        config = json.loads(_text(handle.attrs["model_config"]))
        layers = config["config"]["layers"]
        unsupported = sorted({layer["class_name"] for layer in layers} - SUPPORTED_LAYERS)
        if unsupported:
            raise ValueError(
                f"{path}: layers {unsupported} are not part of mini-Xception; this converter reads only it"
            )
        weights: dict[str, dict[str, np.ndarray]] = {}
        group = handle["model_weights"]
        for layer in layers:
            name = layer["name"]
            if name not in group:
                continue
            names = [_text(item) for item in group[name].attrs.get("weight_names", [])]
            if not names:
                continue
            weights[name] = {item.split("/")[-1].split(":")[0]: np.asarray(group[name][item]) for item in names}
    return layers, weights


def _inputs(layer: dict) -> list[str]:
    return [inbound[0] for node in layer["inbound_nodes"] for inbound in node]


def _conv(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).float()


def _depthwise(kernel: np.ndarray) -> torch.Tensor:
    kh, kw, channels, multiplier = kernel.shape
    return (
        torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 3, 0, 1)))
        .reshape(channels * multiplier, 1, kh, kw)
        .float()
    )


def convert_keras_mini_xception(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Map the Keras mini-Xception onto `MiniXceptionEncoder` keys.

    Returns:
        `(state_dict, architecture)`: torch tensors under our keys, and the `MiniXceptionEncoder` arguments the
        file describes (`stem_channels`, `block_channels`, `num_classes`, `input_size`, `grey_input`).
    """
    layers, weights = read_keras_model(path)
    by_name = {layer["name"]: layer for layer in layers}
    targets: dict[str, str] = {}  # Keras layer -> our module prefix
    stem, blocks, separable_seen = [], [], {}
    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        if kind == "Conv2D" and config.get("use_bias"):
            targets[layer["name"]] = "classifier"
        elif kind == "Conv2D" and tuple(config["strides"]) == (2, 2):
            blocks.append({"input": _inputs(layer)[0], "residual": layer["name"], "filters": config["filters"]})
            targets[layer["name"]] = f"blocks.{len(blocks) - 1}.residual.0"
        elif kind == "Conv2D":
            stem.append(config["filters"])
            targets[layer["name"]] = f"stem.{3 * (len(stem) - 1)}"
    block_of_input = {block["input"]: index for index, block in enumerate(blocks)}
    for layer in layers:
        if layer["class_name"] != "SeparableConv2D":
            continue
        source = _inputs(layer)[0]
        if source in block_of_input:
            index, position = block_of_input[source], 1
        else:  # the second separable convolution reads the first through its BN and ReLU
            chain = source
            while by_name[chain]["class_name"] != "SeparableConv2D":
                chain = _inputs(by_name[chain])[0]
            index, position = separable_seen[chain], 2
        separable_seen[layer["name"]] = index
        targets[layer["name"]] = f"blocks.{index}.{{kind}}{position}"
    for layer in layers:
        if layer["class_name"] != "BatchNormalization":
            continue
        source = _inputs(layer)[0]
        owner = targets.get(source)
        if owner is None:
            raise ValueError(
                f"{path}: batch norm {layer['name']} reads {source}, which mini-Xception has no norm after"
            )
        if owner.startswith("stem."):
            targets[layer["name"]] = f"stem.{int(owner.split('.')[1]) + 1}"
        elif owner.endswith("residual.0"):
            targets[layer["name"]] = owner[: -len("0")] + "1"
        else:
            targets[layer["name"]] = owner.replace("{kind}", "bn")
    if len(stem) != 2 or not blocks or sum(1 for t in targets.values() if t == "classifier") != 1:
        raise ValueError(f"{path}: not a mini-Xception graph (2 stem convolutions, residual modules, one classifier)")

    state: dict[str, torch.Tensor] = {}
    for name, tensors in weights.items():
        prefix = targets.get(name)
        if prefix is None:
            raise ValueError(f"{path}: weights of layer {name} have no place in mini-Xception")
        kind = by_name[name]["class_name"]
        if kind == "Conv2D":
            state[f"{prefix}.weight"] = _conv(tensors["kernel"])
            if "bias" in tensors:
                state[f"{prefix}.bias"] = torch.from_numpy(tensors["bias"]).float()
        elif kind == "SeparableConv2D":
            state[f"{prefix.format(kind='depthwise')}.weight"] = _depthwise(tensors["depthwise_kernel"])
            state[f"{prefix.format(kind='pointwise')}.weight"] = _conv(tensors["pointwise_kernel"])
        elif kind == "BatchNormalization":
            epsilon = by_name[name]["config"].get("epsilon", 1e-3)
            if abs(epsilon - 1e-3) > 1e-12:
                raise ValueError(f"{path}: batch norm {name} has epsilon {epsilon}; MiniXceptionEncoder uses 1e-3")
            for keras_name, ours in (
                ("gamma", "weight"),
                ("beta", "bias"),
                ("moving_mean", "running_mean"),
                ("moving_variance", "running_var"),
            ):
                state[f"{prefix}.{ours}"] = torch.from_numpy(tensors[keras_name]).float()
            state[f"{prefix}.num_batches_tracked"] = torch.tensor(0)
    input_shape = next(layer for layer in layers if layer["class_name"] == "InputLayer")["config"]["batch_input_shape"]
    architecture = {
        "stem_channels": stem,
        "block_channels": [block["filters"] for block in blocks],
        "num_classes": int(state["classifier.bias"].shape[0]),
        "input_size": int(input_shape[1]),
        "grey_input": int(input_shape[-1]) == 1,
    }
    return state, architecture


def load_keras_mini_xception(path: str | Path, in_channels: int = 3) -> MiniXceptionEncoder:
    """Build a `MiniXceptionEncoder` with the architecture and weights of a Keras mini-Xception file, in eval mode."""
    state, architecture = convert_keras_mini_xception(path)
    encoder = MiniXceptionEncoder(
        in_channels=in_channels,
        stem_channels=architecture["stem_channels"],
        block_channels=architecture["block_channels"],
        num_classes=architecture["num_classes"],
        input_size=architecture["input_size"],
    )
    encoder.load_state_dict(state, strict=True)
    return encoder.eval()


__all__ = [
    "FER2013_LABELS",
    "FER2013_TO_EMOTION",
    "FER2013_MINI_XCEPTION_LICENSE",
    "MODEL_CARD_NOTICE",
    "convert_keras_mini_xception",
    "load_keras_mini_xception",
    "read_keras_model",
]
