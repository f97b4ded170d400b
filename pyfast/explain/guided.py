"""Guided backpropagation (Springenberg et al. 2015; cs231n lecture 12).

Backward through every ReLU passes only positive gradients at positions where the forward
input was positive: ``grad_in = grad_out * (input > 0) * (grad_out > 0)``.

How the ReLUs are found
-----------------------
Models apply ReLU in three ways: ``nn.ReLU`` modules, in-place ``nn.ReLU(inplace=True)`` /
``F.relu(x, inplace=True)`` / ``x.relu_()``, and plain ``F.relu`` / ``torch.relu`` / ``x.relu()``
calls inside ``forward``. Module hooks see only the first kind, and full backward hooks on an
in-place ReLU fail (the hook wraps the output in a view that the ReLU then modifies in place).
So :class:`GuidedReLUMode`, a :class:`torch.overrides.TorchFunctionMode`, intercepts every ReLU
call at the function level (``nn.ReLU.forward`` itself calls ``F.relu``) while the model runs and
routes it to a custom autograd function with the guided backward rule; in-place calls stay in
place (the function marks its input dirty). The mode is active only during the call and is
popped even when the forward raises; nothing is registered on the model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ._common import ArrayLike, model_guard, to_numpy
from .saliency import Target, _prepare, input_gradients


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (out,) = ctx.saved_tensors
        return grad_out * ((out > 0) & (grad_out > 0)).to(grad_out.dtype)


class _GuidedReLUInplace(_GuidedReLU):
    """The in-place variant: same backward rule, the input is overwritten and marked dirty."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x.clamp_min_(0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x


_OUT_OF_PLACE = {F.relu, torch.relu, torch.Tensor.relu}
_IN_PLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}


class GuidedReLUMode(TorchFunctionMode):
    """Inside ``with GuidedReLUMode():`` every ReLU call (``nn.ReLU`` modules, in-place or not,
    ``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu``, ``Tensor.relu_``)
    has the guided-backprop backward rule. Other activations are left as they are."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _IN_PLACE:
            return _GuidedReLUInplace.apply(args[0])
        if func in _OUT_OF_PLACE:
            inplace = func is F.relu and bool(args[1] if len(args) > 1 else kwargs.get("inplace", False))
            return _GuidedReLUInplace.apply(args[0]) if inplace else _GuidedReLU.apply(args[0])
        return func(*args, **kwargs)


def guided_backprop(model: nn.Module, x: ArrayLike, target: Target = None) -> np.ndarray:
    """Guided-backprop gradient of the target class score with respect to the input.

    Args:
        model: returns (N, num_classes) scores; its ReLUs may be modules (in place or not) or
            functional calls.
        x: (N, C, H, W) batch in the model's input space.
        target: class per image (one int for all, a sequence of N) or None for the predicted class
            (predicted by the unmodified model).

    Returns:
        (N, C, H, W) float32 gradients. For display take e.g. ``np.abs(g).max(1)`` or normalise
        the signed image.

    Raises:
        ValueError: bad ``x`` (rank, dtype, non-finite), ``target`` out of range or of the wrong
            length, a model that does not return (N, num_classes) scores.
    """
    with model_guard(model):
        x, targets = _prepare(model, x, target)
        with GuidedReLUMode():
            grad = input_gradients(model, x, targets)
        return to_numpy(grad)
