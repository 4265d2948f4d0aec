"""Reading a published PyTorch checkpoint safely, and loading it into a module through a key mapping.

A `KeyMapping` is an ordered list of rules. Each rule is a regular expression over the checkpoint's key and
either a replacement (the key in our module) or a reason to skip the key. Keys that several source tensors
must be merged into (EfficientFace's per-patch convolutions become one grouped convolution) are handled by a
`merge` callback that consumes them before the rules run. `load_with_mapping` applies the mapping, loads
what fits, and returns a `LoadingReport` listing what did not.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from av_emotion.convert.report import LoadingReport

StateDict = dict[str, torch.Tensor]
# A merge step: takes the remaining source tensors, returns (tensors for our module, source keys consumed).
MergeStep = Callable[[StateDict], tuple[StateDict, set[str]]]


@dataclass
class KeyMapping:
    r"""Rules from a published checkpoint's keys to a module's keys.

    Attributes:
        name: What the checkpoint is (used in reports and errors).
        rename: `(pattern, replacement)` pairs, tried in order; the first `re.fullmatch` wins. The replacement
            is a `re` template (`r"stages.\1"`) or a function of the match.
        skip: `(pattern, reason)` pairs: checkpoint keys left out on purpose (the original classifier).
        merges: Steps run first that combine several checkpoint tensors into one of ours.
        convert: Target key pattern -> function `(tensor, model_tensor) -> (tensor, note)` adapting a tensor
            whose shape legitimately differs (for example RGB kernels to one input channel); `note` is None
            when nothing was changed.
    """

    name: str
    rename: list[tuple[str, str | Callable[[re.Match], str]]] = field(default_factory=list)
    skip: list[tuple[str, str]] = field(default_factory=list)
    merges: list[MergeStep] = field(default_factory=list)
    convert: dict[str, Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, str | None]]] = field(
        default_factory=dict
    )

    def map_key(self, key: str) -> str | None:
        """Return our key for a checkpoint key, or None when no rule knows it."""
        for pattern, replacement in self.rename:
            match = re.fullmatch(pattern, key)
            if match:
                return replacement(match) if callable(replacement) else match.expand(replacement)
        return None

    def skip_reason(self, key: str) -> str | None:
        """Return why a checkpoint key is left out on purpose, or None."""
        for pattern, reason in self.skip:
            if re.fullmatch(pattern, key):
                return reason
        return None


def load_torch_checkpoint(path: str | Path, *, strip_prefixes: tuple[str, ...] = ("module.",)) -> StateDict:
    """Read a PyTorch checkpoint without running pickled code and return its flat state dict.

    Accepts a bare state dict or a training checkpoint holding one under `state_dict` or `model` (the layout of
    `EfficientFace_Trained_on_AffectNet7.pth.tar`), and drops the `module.` prefix `nn.DataParallel` adds.
    Loading uses `torch.load(weights_only=True)`: a file that needs arbitrary unpickling is refused.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a checkpoint `weights_only` can read, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(
            f"{path}: not readable with torch.load(weights_only=True) ({str(error).splitlines()[0]}). We never "
            "unpickle code; if the file is a trusted checkpoint holding non-tensor objects, re-save its state_dict "
            "alone (torch.save(checkpoint['state_dict'], 'weights.pth')) and convert that."
        ) from error
    if isinstance(content, Mapping):
        for container in ("state_dict", "model", "model_state_dict"):
            if isinstance(content.get(container), Mapping):
                content = content[container]
                break
    if not isinstance(content, Mapping) or not any(isinstance(v, torch.Tensor) for v in content.values()):
        raise ValueError(f"{path}: holds no state dict (expected a mapping of parameter names to tensors)")
    state_dict: StateDict = {}
    for key, value in content.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in strip_prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state_dict[key] = value
    return state_dict


def select_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Return the entries under `prefix` with the prefix removed (one network of a two-stream checkpoint)."""
    return {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}


def load_with_mapping(
    module: nn.Module,
    source: StateDict,
    mapping: KeyMapping,
    *,
    target: str,
    checkpoint: str,
) -> LoadingReport:
    """Map `source` onto `module`'s keys, load the tensors that fit, and report the rest.

    Tensors are copied in place (`load_state_dict(strict=False)` on the matching subset), so the module keeps
    its dtype and device. Nothing is loaded when a mapped tensor's shape differs from the model's: that key is
    reported as MISMATCH and keeps its initialisation.
    """
    report = LoadingReport(target=target, checkpoint=checkpoint)
    remaining = dict(source)
    mapped: StateDict = {}
    for merge in mapping.merges:
        produced, consumed = merge(remaining)
        mapped.update(produced)
        for key in consumed:
            remaining.pop(key, None)
    for key, tensor in remaining.items():
        reason = mapping.skip_reason(key)
        if reason is not None:
            report.skipped[key] = reason
            continue
        new_key = mapping.map_key(key)
        if new_key is None:
            report.unexpected.append(key)
        else:
            mapped[new_key] = tensor
    expected = module.state_dict()
    loadable: StateDict = {}
    for key, tensor in mapped.items():
        if key not in expected:
            report.unexpected.append(f"{key} (mapped)")
            continue
        for pattern, adapt in mapping.convert.items():
            if re.fullmatch(pattern, key):
                tensor, note = adapt(tensor, expected[key])
                if note:
                    report.converted[key] = note
        if tuple(tensor.shape) != tuple(expected[key].shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(expected[key].shape)))
            continue
        loadable[key] = tensor.to(dtype=expected[key].dtype)
    module.load_state_dict(loadable, strict=False)
    report.loaded = sorted(loadable)
    report.missing = sorted(set(expected) - set(loadable) - {key for key, _, _ in report.mismatched})
    return report


def average_input_channels(tensor: torch.Tensor, model_tensor: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """Adapt a first-layer kernel to fewer input channels by averaging over the checkpoint's channels.

    The way Kuhnke et al. (TSAV, whose audio network JCA's authors use) turn ImageNet's RGB `conv1` into the
    one-channel spectrogram `conv1`. Returns the tensor unchanged when the channel counts already agree.
    """
    if tensor.ndim < 2 or tensor.shape[1] == model_tensor.shape[1] or model_tensor.shape[1] != 1:
        return tensor, None
    return tensor.mean(dim=1, keepdim=True), f"{tensor.shape[1]} input channels averaged to 1"


__all__ = [
    "KeyMapping",
    "LoadingReport",
    "average_input_channels",
    "load_torch_checkpoint",
    "load_with_mapping",
    "select_prefix",
]
