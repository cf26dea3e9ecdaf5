"""An inference fast path: the same network, evaluated with less work (eval mode only).

Nothing here changes what the network computes (Sec. 3); it changes how:

- **Batch norm folded into the convolution before it.** In eval mode BN is an affine map per
  channel, ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so ``BN(conv(x))`` is one
  convolution with weights ``w * s`` and bias ``(b - mean) * s + beta``, where
  ``s = gamma / sqrt(var + eps)``: one pass over each feature map instead of two. Only valid
  with running statistics, so the fused model is in eval mode and not for training.
- **channels_last** memory format, which oneDNN's CPU convolutions (and cuDNN's tensor cores)
  prefer.
- **torch.inference_mode**: no autograd bookkeeping.

``prepare_for_inference(model)`` applies all three to a copy; the original is untouched.
Outputs equal the original's within float32 rounding (``tests/test_fast.py``). Two options
go further: ``dtype=torch.bfloat16`` keeps the folded weights in bfloat16 (converted once,
not at every call) and ``compile=True`` hands the network to ``torch.compile``; both are
measured in ``bench/``.

Where it is used: ``atrous export`` folds BN with :func:`fuse_bn`, and ``bench/`` measures
the whole path. ``eval`` and ``predict`` do not use it, on purpose: they run the network as
trained (unfolded weights, bf16 through autocast where chosen), so that an evaluation gives
the number a training run's evaluation gave and a committed result re-checks to the same
mIOU; folding changes the last bits of every logit, and bf16 weights more than that. For
many images of one size, wrap the loaded network with :func:`prepare_for_inference` and
pass it to :func:`atrous.inference.evaluate.evaluate` yourself.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from atrous.base.errors import AtrousError


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold ``bn`` (running statistics) into ``conv`` in place."""
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))  # (C_out, C_in, k, k)
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)


def fuse_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every BN folded into the conv just before it.

    A BN counts as "just before" when it is the next child of the same parent, in registration
    order, after a ``Conv2d`` whose output channels it normalizes: ``nn.Sequential(conv, bn,
    relu)`` and our ``Bottleneck`` (``conv1, bn1, conv2, bn2, conv3, bn3``) both are. Folded
    BNs become ``nn.Identity``. A BN without such a conv is left as it is.
    """
    fused = copy.deepcopy(model).eval()
    for parent in list(fused.modules()):
        children = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and bn.track_running_stats
                and bn.num_features == conv.out_channels
            ):
                _fold(conv, bn)
                setattr(parent, bn_name, nn.Identity())
    return fused.eval()  # the new Identity modules too


class InferenceModel(nn.Module):
    """A network prepared by :func:`prepare_for_inference`: call it like the original.

    Inputs are converted to the weights' dtype and memory format; outputs are float32.
    """

    def __init__(
        self, model: nn.Module, channels_last: bool = True, dtype: torch.dtype = torch.float32
    ) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @property
    def config(self) -> object:
        """The network's config (:mod:`atrous.inference.strategy` reads ``align_corners``)."""
        return getattr(self.model, "config", None)

    def train(self, mode: bool = True) -> InferenceModel:
        if mode:
            raise AtrousError("a model prepared for inference has BN folded in; it cannot train")
        return super().train(False)

    def forward(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        with torch.inference_mode():
            x = x.to(self.dtype).contiguous(memory_format=self.memory_format)
            return self.model(x, *args, **kwargs).float()


def prepare_for_inference(
    model: nn.Module,
    channels_last: bool = True,
    dtype: torch.dtype = torch.float32,
    compile: bool = False,
) -> InferenceModel:
    """``model`` for fast evaluation: BN folded, channels_last, run under inference mode.

    Args:
        model: a network in eval mode (it is copied; the original is unchanged).
        channels_last: NHWC activations and weights (oneDNN's and cuDNN's fastest layout).
        dtype: the weights' dtype, converted once (``torch.bfloat16`` halves the memory
            traffic and uses the CPU's bf16 units where it has them; BN is folded in float32
            first). Inputs are converted on the way in, logits returned as float32.
        compile: ``torch.compile`` the network (inductor): fuses the elementwise ops around
            the convolutions; the first call at each input size compiles (tens of seconds on
            a CPU), later calls are fast. Worth it for many images of one size.

    Returns a new module whose outputs are inference tensors: use them for predictions, not
    in autograd.
    """
    fused = fuse_bn(model).to(dtype)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
    prepared = InferenceModel(fused, channels_last, dtype).eval()
    if compile:
        prepared.model = torch.compile(fused, dynamic=False)
    return prepared
