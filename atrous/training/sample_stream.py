"""The training data stream: sample ``k`` of a run is a pure function of ``(seed, k)``.

Sample :math:`k` of the run (``k = iteration * batch_size + j``) is image
``permutation_e[k mod L]`` of epoch ``e = k // L``, augmented with a NumPy generator seeded
by ``(seed, k)``. Nothing about the data stream has to be saved, and a run resumed from a
checkpoint sees exactly the batches the uninterrupted run would have seen, whatever the
number of loader workers or processes (:class:`IterationSampler` deals each global batch
out to the processes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from atrous.base.errors import AtrousError

#: A transform called as ``transform(image, label, rng=generator)`` -> (image, label) tensors.
Transform = Callable[..., tuple[torch.Tensor, torch.Tensor]]

# Streams of the per-run generators: one for the epoch permutations, one per sample.
_ORDER_STREAM, _SAMPLE_STREAM = 1, 2


def epoch_permutation(seed: int, epoch: int, length: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the ``length`` images."""
    return np.random.default_rng([seed, _ORDER_STREAM, epoch]).permutation(length)


def sample_rng(seed: int, k: int) -> np.random.Generator:
    """The generator that augments sample ``k`` of the run."""
    return np.random.default_rng([seed, _SAMPLE_STREAM, k])


class SampleStream(Dataset):
    """Sample ``k`` of the run: image ``permutation_{k // L}[k % L]``, augmented by rng ``k``.

    ``indices`` lists the dataset images of one epoch (an image listed twice is seen twice:
    bootstrapping). The dataset must return raw ``(uint8 (H, W, 3), int64 (H, W))`` pairs.
    """

    def __init__(
        self, dataset: Dataset, transform: Transform, seed: int, indices: Sequence[int]
    ) -> None:
        if len(indices) == 0:
            raise AtrousError("the training set has no images: nothing to train on")
        self.dataset, self.transform, self.seed = dataset, transform, seed
        self.indices = np.asarray(indices)
        self._epoch, self._order = -1, self.indices

    def index(self, k: int) -> int:
        """The dataset index of sample ``k``."""
        epoch, position = divmod(k, len(self.indices))
        if epoch != self._epoch:  # one permutation per epoch, cached
            self._order = self.indices[epoch_permutation(self.seed, epoch, len(self.indices))]
            self._epoch = epoch
        return int(self._order[position])

    def __len__(self) -> int:  # the stream is endless; DataLoader only needs the sampler
        return 2**62

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.dataset[self.index(k)]
        return self.transform(image, label, rng=sample_rng(self.seed, k))


class IterationSampler(Sampler):
    """Yields, for every iteration from ``start`` to ``stop``, this process's sample numbers.

    The global batch of iteration ``i`` is samples ``i * batch_size .. + batch_size - 1``;
    process ``rank`` of ``world`` takes every ``world``-th of them.
    """

    def __init__(self, start: int, stop: int, batch_size: int, rank: int, world: int) -> None:
        self.start, self.stop, self.batch_size = start, stop, batch_size
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(self.start, self.stop):
            first = i * self.batch_size
            yield list(range(first + self.rank, first + self.batch_size, self.world))

    def __len__(self) -> int:
        return self.stop - self.start
