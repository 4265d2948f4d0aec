"""A plain numpy evaluation of a Keras HDF5 model's graph: the independent reference for the mini-Xception parity.

It interprets the `model_config` JSON layer by layer in Keras' own layout (NHWC, kernels (kh, kw, in, out)),
with TensorFlow's padding rules written out, in float64. It shares nothing with av_emotion's converter except
the HDF5 file: no torch, no key mapping, no re-layout of the weights.
"""

from __future__ import annotations

import json
import math

import h5py
import numpy as np


def _same_pads(size, kernel, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _patches(x, kh, kw, stride, padding, fill=0.0):
    """x (N, H, W, C) -> windows (N, Ho, Wo, kh, kw, C) under Keras' 'valid' or 'same' padding."""
    n, h, w, c = x.shape
    if padding == "same":
        (top, bottom), (left, right) = _same_pads(h, kh, stride), _same_pads(w, kw, stride)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    out = np.empty((n, ho, wo, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j, :] = x[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :]
    return out


def _conv2d(x, kernel, bias, stride, padding):
    kh, kw = kernel.shape[:2]
    y = np.einsum("nhwijc,ijco->nhwo", _patches(x, kh, kw, stride, padding), kernel)
    return y if bias is None else y + bias


def _depthwise(x, kernel, stride, padding):
    kh, kw, c, m = kernel.shape
    y = np.einsum("nhwijc,ijcm->nhwcm", _patches(x, kh, kw, stride, padding), kernel)
    return y.reshape(*y.shape[:3], c * m)


def evaluate_keras_hdf5(path, images: np.ndarray) -> np.ndarray:
    """Run the model in `path` on `images` (N, H, W, C) and return the output layer's values (float64)."""
    with h5py.File(path, "r") as handle:
        config = json.loads(handle.attrs["model_config"])
        group = handle["model_weights"]
        weights = {}
        for layer in config["config"]["layers"]:
            if layer["name"] in group:
                names = [n.decode() if isinstance(n, bytes) else n for n in group[layer["name"]].attrs["weight_names"]]
                weights[layer["name"]] = {
                    n.split("/")[-1].split(":")[0]: np.asarray(group[layer["name"]][n], np.float64) for n in names
                }
    values = {}
    for layer in config["config"]["layers"]:
        kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
        inputs = [values[inbound[0]] for node in layer["inbound_nodes"] for inbound in node]
        w = weights.get(name, {})
        if kind == "InputLayer":
            y = images.astype(np.float64)
        elif kind == "Conv2D":
            y = _conv2d(inputs[0], w["kernel"], w.get("bias"), cfg["strides"][0], cfg["padding"])
        elif kind == "SeparableConv2D":
            y = _depthwise(inputs[0], w["depthwise_kernel"], cfg["strides"][0], cfg["padding"])
            y = _conv2d(y, w["pointwise_kernel"], w.get("bias"), 1, "valid")
        elif kind == "BatchNormalization":
            y = (inputs[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
        elif kind == "Activation":
            if cfg["activation"] == "relu":
                y = np.maximum(inputs[0], 0)
            elif cfg["activation"] == "softmax":
                e = np.exp(inputs[0] - inputs[0].max(axis=-1, keepdims=True))
                y = e / e.sum(axis=-1, keepdims=True)
            else:
                raise NotImplementedError(cfg["activation"])
        elif kind == "MaxPooling2D":
            kh, kw = cfg["pool_size"]
            y = _patches(inputs[0], kh, kw, cfg["strides"][0], cfg["padding"], fill=-np.inf).max(axis=(3, 4))
        elif kind == "Add":
            y = sum(inputs)
        elif kind == "GlobalAveragePooling2D":
            y = inputs[0].mean(axis=(1, 2))
        else:
            raise NotImplementedError(kind)
        values[name] = y
    return values[config["config"]["output_layers"][0][0]]
