"""Frozen pretrained encoders and their own learning rate, as the recipes' `model` and `optimizer` sections ask.

A frozen encoder is frozen completely: its weights do not move and its batch-norm layers stay in evaluation
mode, so their running statistics (learned on the backbone's pretraining data) are neither updated nor
replaced by batch statistics, even while the rest of the model is in `train()` mode. Praveen et al. 2022
(JCA) train their fusion on top of frozen backbones this way.

Two ways to freeze, chosen by whether the encoder is ever unfrozen:

* frozen for the whole run: `requires_grad=False`, so no gradient is even computed for it (cheaper);
* unfrozen after N epochs: the weights keep `requires_grad=True` and their gradients are dropped before
  clipping and the optimizer step while frozen. Changing `requires_grad` after `accelerate.prepare` would leave
  the encoder out of DDP's gradient synchronisation, so this way is the one that stays correct on many
  processes. The optimizer skips parameters without a gradient (no update, no weight decay, no momentum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from av_emotion.modeling.encoders import encoder_modules, encoder_parameter_prefixes

MODALITIES = ("video", "audio")


def _batch_norms(module: nn.Module) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, nn.modules.batchnorm._BatchNorm)]


class EncoderFreezer:
    """Freeze some of a model's pretrained encoders, optionally until a given epoch.

    Args:
        model: An av_emotion model whose encoders are declared in `av_emotion.modeling.encoders`.
        modalities: Which encoders to freeze (`"video"`, `"audio"`); empty: the freezer does nothing.
        unfreeze_after_epochs: Epochs after which they train (None: frozen for the whole run). With 2, epochs
            0 and 1 are frozen and epoch 2 trains them.
    """

    def __init__(self, model: nn.Module, modalities: Iterable[str], unfreeze_after_epochs: int | None = None):
        modalities = list(dict.fromkeys(modalities))
        unknown = sorted(set(modalities) - set(MODALITIES))
        if unknown:
            raise ValueError(f"model.freeze_encoders: unknown modality {unknown}; use {list(MODALITIES)}")
        encoders = encoder_modules(model) if modalities else {}
        absent = sorted(set(modalities) - set(encoders))
        if absent:
            raise ValueError(
                f"model.freeze_encoders names {absent}, but {model.config.model_type} has pretrained encoders only "
                f"for {sorted(encoders)}"
            )
        if unfreeze_after_epochs is not None and unfreeze_after_epochs < 0:
            raise ValueError(f"model.unfreeze_encoders_after_epochs must be >= 0, got {unfreeze_after_epochs}")
        self.encoders = {modality: encoders[modality] for modality in modalities}
        self.unfreeze_after_epochs = unfreeze_after_epochs
        self.frozen = False
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []

    @property
    def active(self) -> bool:
        """Whether any encoder is to be frozen at some point."""
        return bool(self.encoders)

    def frozen_parameters(self) -> list[nn.Parameter]:
        """Return the parameters of the encoders this freezer manages."""
        return [parameter for encoder in self.encoders.values() for parameter in encoder.parameters()]

    def set_epoch(self, epoch: int, log: Callable[[str], None] | None = None) -> None:
        """Freeze or unfreeze for `epoch` (0-based); call at the start of every epoch, resumed runs included."""
        if not self.active:
            return
        should_freeze = self.unfreeze_after_epochs is None or epoch < self.unfreeze_after_epochs
        if should_freeze and not self.frozen:
            self._freeze()
            if log:
                until = (
                    "for the whole run"
                    if self.unfreeze_after_epochs is None
                    else f"until epoch {self.unfreeze_after_epochs + 1}"
                )
                log(f"encoders frozen ({', '.join(self.encoders)}) {until}, batch-norm statistics included")
        elif not should_freeze and self.frozen:
            self._unfreeze()
            if log:
                log(f"encoders unfrozen ({', '.join(self.encoders)}) from epoch {epoch + 1}")

    def _freeze(self) -> None:
        permanent = self.unfreeze_after_epochs is None
        for encoder in self.encoders.values():
            if permanent:
                encoder.requires_grad_(False)
            norms = _batch_norms(encoder)
            # Runs before every forward: model.train() may have put the norms back in training mode.
            self._hooks.append(encoder.register_forward_pre_hook(lambda module, args, norms=norms: _eval_all(norms)))
            _eval_all(norms)
        self.frozen = True

    def _unfreeze(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        for encoder in self.encoders.values():
            encoder.requires_grad_(True)
            for norm in _batch_norms(encoder):
                norm.train(encoder.training)
        self.frozen = False

    def drop_frozen_gradients(self) -> None:
        """Discard the gradients of frozen encoders (call after backward, before clipping and the step)."""
        if not self.frozen:
            return
        for parameter in self.frozen_parameters():
            parameter.grad = None


def _eval_all(norms: list[nn.Module]) -> None:
    for norm in norms:
        if norm.training:
            norm.eval()


def split_encoder_parameters(
    model: nn.Module, modalities: Iterable[str] | None = None
) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """Split `model.named_parameters()` into (encoder parameters, the rest).

    `modalities` limits which encoders count (default: every declared encoder). A model without declared
    encoders has none.
    """
    try:
        prefixes = encoder_parameter_prefixes(model)
    except ValueError:
        prefixes = {}
    if modalities is not None:
        prefixes = {modality: prefix for modality, prefix in prefixes.items() if modality in set(modalities)}
    encoder, rest = [], []
    for name, parameter in model.named_parameters():
        (encoder if any(name.startswith(prefix) for prefix in prefixes.values()) else rest).append((name, parameter))
    return encoder, rest


__all__ = ["MODALITIES", "EncoderFreezer", "split_encoder_parameters"]
