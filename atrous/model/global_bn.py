r"""Batch norm over the global batch of all processes, on any device (Sec. 4.1).

The paper trains with batch 16 and stresses that batch norm needs it (Tab. 9: batch 4
gives 64.43, batch 16 gives 77.21). When the batch is split over several processes, each
process sees only its share; to normalise by the statistics of the *global* batch, the
per-channel sums are added up over the processes before the mean and variance are taken
(in two passes, the variance from centred values):

.. math::

    \mu = \frac{\sum_p \sum_{i \in p} x_i}{\sum_p n_p}, \qquad
    \sigma^2 = \frac{\sum_p \sum_{i \in p} (x_i - \mu)^2}{\sum_p n_p}.

PyTorch's :class:`torch.nn.SyncBatchNorm` does exactly this, but only on GPUs; training
uses it on CUDA. :class:`GlobalBatchNorm2d` is the same computation written with the
differentiable ``torch.distributed.nn.all_reduce``, so that data-parallel training on CPUs
(the gloo backend) normalises by the global batch too, and matches one process trained on
the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn as dist_nn
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def global_batch_size(bn: nn.Module, local_batch: int) -> int:
    """The batch that ``bn`` normalises: ``local_batch`` images on each process when ``bn``
    pools its statistics over the processes (ours or :class:`torch.nn.SyncBatchNorm`),
    else ``local_batch``. (Equal local batches, as :class:`atrous.training.loop` gives them.)"""
    if isinstance(bn, (GlobalBatchNorm2d, nn.SyncBatchNorm)) and _distributed():
        return local_batch * dist.get_world_size()
    return local_batch


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` whose training statistics cover all processes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        C = x.shape[1]
        dims = (0, 2, 3)
        count = x.new_full((1,), x.numel() // C)  # pixels per channel here
        total = dist_nn.all_reduce(torch.cat([x.sum(dim=dims), count]))  # with its gradient
        n = total[-1]
        mean = total[:C] / n  # (C,)
        # Two passes: the variance from the centred values, not E[x^2] - mean^2, which
        # cancels catastrophically when a channel's spread is small against its mean (the
        # image-pooling branch with one image per process: two values a channel).
        centred = x - mean[None, :, None, None]
        var = dist_nn.all_reduce(centred.square().sum(dim=dims)) / n  # biased, as BN uses
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * n / (n - 1))
        scale = self.weight * torch.rsqrt(var + self.eps)  # (C,)
        return centred * scale[None, :, None, None] + self.bias[None, :, None, None]

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        momentum = self.momentum
        if momentum is None:  # cumulative moving average, as in BatchNorm2d
            momentum = 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean, momentum)
        self.running_var.lerp_(unbiased_var, momentum)


def convert_to_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every :class:`torch.nn.BatchNorm2d` in ``module`` by a
    :class:`GlobalBatchNorm2d` with the same parameters, buffers and mode; in place."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            bn = GlobalBatchNorm2d(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
                device=child.weight.device,
                dtype=child.weight.dtype,
            )
            bn.load_state_dict(child.state_dict())
            bn.train(child.training)
            for p, q in zip(bn.parameters(), child.parameters(), strict=True):
                p.requires_grad_(q.requires_grad)
            setattr(module, name, bn)
        else:
            convert_to_global_batchnorm(child)
    return module
