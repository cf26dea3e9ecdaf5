r"""Training DeepLabv3: the protocol of Sec. 4.1.

One iteration takes a batch of ``batch_size`` random crops (random scale 0.5 to 2.0 and
left-right flip, :class:`atrous.data.transforms.TrainTransform`), computes the logits,
**upsamples them to the labels** (or, for the ablation of Tab. 8, downsamples the labels
to the logits), and takes one step of SGD with momentum and weight decay on the pixel-wise
cross-entropy, ignoring the label 255. The learning rate follows the "poly" policy, set
before every iteration :math:`i` of :math:`I`:

.. math::

    \mathrm{lr}_i = \mathrm{base\_lr} \cdot (1 - i / I)^{0.9}.

The two stages of the paper are two runs of :func:`train`: stage 1 at output stride 16
with batch norm trained (BN decay 0.9997 = ``bn_momentum`` 0.0003, batch 16, lr 0.007);
stage 2 starts from stage 1's weights (``train.init``), freezes batch norm, switches to
output stride 8 and uses lr 0.001 (``configs/voc_stage2.toml``).

Reproducibility: the data order and every augmentation are a pure function of
``(seed, sample number)``: sample :math:`k` of the run (``k = iteration * batch_size + j``)
is image ``permutation_e[k mod L]`` of epoch ``e = k // L``, augmented with a NumPy
generator seeded by ``(seed, k)``. Nothing about the data stream has to be saved, and a run
resumed from a checkpoint (``resume=True``) sees exactly the batches the uninterrupted run
would have seen, whatever the number of loader workers.

Departures and caveats, stated here once:

- ``accumulate > 1`` splits every batch into micro-batches whose gradients add up; the
  loss is normalised by the labelled pixels of the whole batch, so the gradient equals the
  full batch's, **except for batch norm**, which normalises each micro-batch by its own
  statistics and updates its running averages once per micro-batch. Tab. 9 shows how much
  small BN batches cost (batch 4: 64.43 against 77.21 at 16); prefer freezing BN
  (``freeze_bn``) when the micro-batch is small.
- With several processes (``torchrun``), batch norm layers become
  :class:`torch.nn.SyncBatchNorm` on CUDA and :class:`atrous.global_bn.GlobalBatchNorm2d`
  on the CPU (PyTorch's runs only on GPUs), so BN sees the global batch as in the paper.
- Weight decay applies to the conv weights only, not to biases and BN parameters (as the
  paper's TensorFlow code regularises only the weights).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from atrous.checkpoint import load_weights, read_checkpoint, save_checkpoint
from atrous.global_bn import convert_to_global_batchnorm
from atrous.model import DeepLabV3
from atrous.train_config import DataConfig, OptimConfig, TrainConfig, _plain, from_dict

IGNORE_INDEX = 255
#: A transform called as ``transform(image, label, rng=generator)`` -> (image, label) tensors.
Transform = Callable[..., tuple[torch.Tensor, torch.Tensor]]

# Streams of the per-run generators: one for the epoch permutations, one per sample.
_ORDER_STREAM, _SAMPLE_STREAM = 1, 2


def poly_lr(base_lr: float, iteration: int, iterations: int, power: float = 0.9) -> float:
    """The poly learning rate of Sec. 4.1: ``base_lr * (1 - iteration / iterations) ** power``."""
    return base_lr * (1.0 - iteration / iterations) ** power


# --- the data stream: a pure function of (seed, sample number) -----------------------------


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
            raise ValueError("the training set has no images: nothing to train on")
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


# --- datasets from the config ----------------------------------------------------------------


def build_dataset(data: DataConfig, split: str) -> Dataset:
    """The dataset ``data.dataset`` of ``split``, returning raw (image, label) pairs.

    ``voc`` with the split ``trainaug`` is the paper's 10,582 images (VOC train + SBD, minus
    VOC val): it needs ``data.sbd_root`` as well as ``data.root``.
    """
    roots = {"root": data.root}
    if data.dataset == "voc" and split == "trainaug":
        roots["sbd_root"] = data.sbd_root
    if data.dataset != "synthetic":
        for key, root in roots.items():
            if not Path(root).is_dir():
                raise FileNotFoundError(
                    f"data.{key} {root!r} is not a folder: the {data.dataset!r} dataset must "
                    f"be downloaded first (see the README) and data.{key} set to it"
                )
    from atrous import data as datasets  # imported here: the data package is heavy

    if data.dataset == "synthetic":
        kwargs: dict[str, Any] = {}
        if data.synthetic_size:
            kwargs["size"] = data.synthetic_size
        if data.synthetic_length and split == data.train_split:
            kwargs["length"] = data.synthetic_length
        if data.synthetic_val_length and split == data.val_split:
            kwargs["length"] = data.synthetic_val_length
        return datasets.SyntheticScenes(split=split, **kwargs)
    if data.dataset == "voc" and split == "trainaug":
        return datasets.SBDSegmentation(data.sbd_root, "trainaug", voc_root=data.root)
    classes = {
        "voc": datasets.VOCSegmentation,
        "sbd": datasets.SBDSegmentation,
        "cityscapes": datasets.Cityscapes,
        "coco": datasets.COCOSegmentation,
    }
    return classes[data.dataset](data.root, split)


def default_train_transform(data: DataConfig) -> Transform:
    from atrous.data.transforms import TrainTransform

    return TrainTransform(crop_size=data.crop_size, scale_range=data.scale_range, flip=data.flip)


# --- one step ------------------------------------------------------------------------------


def segmentation_loss_sum(
    logits: torch.Tensor, labels: torch.Tensor, upsample_logits: bool, align_corners: bool
) -> torch.Tensor:
    """Summed cross-entropy over the labelled pixels (label 255 is ignored).

    ``logits`` are (N, K, h, w) at the feature-map size. Sec. 4.1: upsample them to the
    labels (N, H, W); or (Tab. 8, older DeepLabs) pick the labels at the logits' sample
    points, nearest neighbour on the same grid as the bilinear upsampling.
    """
    if upsample_logits:
        logits = F.interpolate(
            logits, size=labels.shape[-2:], mode="bilinear", align_corners=align_corners
        )  # (N, K, H, W)
    else:
        labels = downsample_labels(labels, logits.shape[-2:], align_corners)  # (N, h, w)
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")


def downsample_labels(
    labels: torch.Tensor, size: Sequence[int], align_corners: bool = True
) -> torch.Tensor:
    """Labels (N, H, W) -> (N, h, w) by nearest neighbour on the logits' sampling grid."""

    def grid(n_in: int, n_out: int) -> torch.Tensor:
        if align_corners:  # output i sits at input i * (n_in - 1) / (n_out - 1)
            pos = torch.linspace(0, n_in - 1, n_out, device=labels.device)
        else:  # pixel centres
            pos = (torch.arange(n_out, device=labels.device) + 0.5) * n_in / n_out - 0.5
        return pos.round().clamp(0, n_in - 1).long()

    rows, cols = grid(labels.shape[-2], size[0]), grid(labels.shape[-1], size[1])
    return labels[:, rows][:, :, cols]  # (N, h, w)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """SGD parameter groups: weight decay on conv weights (ndim > 1), none elsewhere."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


# --- the run -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network (eval mode) and the log."""

    model: DeepLabV3
    iteration: int
    run_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available; use 'cpu'")
    return torch.device(name)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _check_resumable(saved: dict[str, Any], config: TrainConfig) -> None:
    """A run resumes with its own config; only where the files live may change."""
    movable = {("train", "device"), ("data", "root"), ("data", "num_workers")}
    now = config.to_dict()
    differ = [
        f"{table}.{key}: checkpoint {saved.get(table, {}).get(key)!r}, now {value!r}"
        for table, values in now.items()
        for key, value in values.items()
        if (table, key) not in movable and saved.get(table, {}).get(key) != value
    ]
    if differ:
        raise ValueError(
            "cannot resume with a different config (start a new --run-dir instead):\n  "
            + "\n  ".join(differ)
        )


def write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    with path.open("w") as f:
        for record in history:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The records of a ``metrics.jsonl`` log."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(history: list[dict[str, float]], path: str | Path) -> Path:
    """Loss and learning rate against the iteration, side by side (matplotlib, Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    its = [r["iteration"] for r in history]
    fig = Figure(figsize=(9, 3.2))
    FigureCanvasAgg(fig)
    ax_loss, ax_lr = fig.subplots(1, 2)
    ax_loss.plot(its, [r["loss"] for r in history])
    ax_loss.set(xlabel="iteration", ylabel="cross-entropy", title="training loss")
    ax_lr.plot(its, [r["lr"] for r in history], color="tab:orange")
    ax_lr.set(xlabel="iteration", ylabel="learning rate", title="poly schedule (power 0.9)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_at: int | None = None,
    dataset: Dataset | None = None,
    transform: Transform | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the network of ``config`` and write checkpoint, metrics and plots to ``run_dir``.

    Args:
        config: the run (:class:`~atrous.train_config.TrainConfig`).
        run_dir: folder for ``checkpoint.pt``, ``metrics.jsonl``, ``curves.png``,
            ``config.json``.
        resume: continue from ``run_dir/checkpoint.pt`` exactly where it stopped.
        stop_at: stop after this many iterations (as an interrupted run would, but with a
            checkpoint); the poly schedule still runs to ``config.train.iterations``.
        dataset, transform: replace the training set and its augmentation built from
            ``config.data`` (raw (image, label) pairs in; see :class:`SampleStream`).
        progress: show a progress bar (rank 0 only).
    """
    t = config.train
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    rank, world, local_rank = _distributed()
    if t.batch_size % (world * t.accumulate):
        raise ValueError(
            f"train.batch_size={t.batch_size} must be divisible by the number of processes "
            f"({world}) times train.accumulate ({t.accumulate})"
        )
    device = _device(t.device, local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)

    if resume and not ckpt_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {str(ckpt_path)!r} to resume from")
    if not resume and ckpt_path.is_file():
        raise FileExistsError(
            f"{str(ckpt_path)!r} exists: pass --resume to continue that run or choose another "
            f"--run-dir"
        )

    # The network, seeded; stage 2 starts from stage 1's weights.
    torch.manual_seed(t.seed)
    network = config.network
    model = DeepLabV3(network)
    if t.pretrained and not t.init:
        from atrous.interop import load_backbone_checkpoint, load_checkpoint_file

        load_backbone_checkpoint(model, load_checkpoint_file(t.pretrained))
    if t.init:
        load_weights(model, read_checkpoint(t.init), source=f"train.init {t.init!r}")
    model.freeze_bn(t.freeze_bn)
    model.to(device)
    module: nn.Module = model
    if world > 1:
        # BN over the global batch: PyTorch's SyncBatchNorm on CUDA, ours elsewhere.
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            model = convert_to_global_batchnorm(model)
        module = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    model.train()

    optimizer = torch.optim.SGD(
        parameter_groups(model, t.weight_decay), lr=t.base_lr, momentum=t.momentum
    )
    use_amp = t.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start, history = 0, []
    if resume:
        state = read_checkpoint(ckpt_path, map_location=device)
        _check_resumable(state["config"], config)
        load_weights(model, state, source=str(ckpt_path))
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], device)
        start = int(state["iteration"])
        # Forget what was logged after the checkpoint: those iterations are redone.
        history = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["iteration"] <= start]
    meta: dict[str, Any] = {}

    stop = t.iterations if stop_at is None else min(stop_at, t.iterations)
    if dataset is None:
        dataset = build_dataset(config.data, config.data.train_split)
    if transform is None:
        transform = default_train_transform(config.data)
    for name in ("class_names", "palette"):
        if hasattr(dataset, name):
            meta[name] = _plain(np.asarray(getattr(dataset, name)).tolist())
    if config.data.bootstrap_classes:  # Sec. 4.3: hard images twice per epoch
        from atrous.data import Bootstrapped

        dataset = Bootstrapped(
            dataset, config.data.bootstrap_classes, config.data.bootstrap_copies, progress
        )
    loader = DataLoader(
        SampleStream(dataset, transform, t.seed, range(len(dataset))),
        batch_sampler=IterationSampler(start, stop, t.batch_size, rank, world),
        num_workers=config.data.num_workers,
        pin_memory=device.type == "cuda",
    )

    def checkpoint(iteration: int) -> None:
        if rank != 0:
            return
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "network": _plain(dataclasses.asdict(model.config)),
                "config": config.to_dict(),
                "iteration": iteration,
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": _rng_state(device),
                "meta": meta,
            },
        )
        write_metrics(run_dir / "metrics.jsonl", history)
        if history:
            plot_curves(history, run_dir / "curves.png")

    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    bar = tqdm(
        total=stop, initial=start, desc="train", disable=not progress or rank != 0, unit="it"
    )
    loss_sum, loss_count, tic = 0.0, 0, time.perf_counter()
    iteration = start
    for iteration, (images, labels) in enumerate(loader, start=start):
        lr = poly_lr(t.base_lr, iteration, t.iterations, t.lr_power)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = _step(module, model, images, labels, optimizer, scaler, t, use_amp, device, world)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the loss is {loss} at iteration {iteration}: training diverged; lower "
                f"train.base_lr (now {t.base_lr}) or check the labels (classes must be < "
                f"num_classes={network.num_classes} or 255)"
            )
        done = iteration + 1
        loss_sum, loss_count = loss_sum + loss, loss_count + 1
        if done % t.log_every == 0 or done == stop:
            seconds = time.perf_counter() - tic
            record = {
                "iteration": done,
                "loss": loss_sum / loss_count,
                "lr": lr,
                "images_per_s": loss_count * t.batch_size / seconds,
            }
            history.append(record)
            bar.set_postfix(
                loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", img_s=f"{record['images_per_s']:.1f}"
            )
            loss_sum, loss_count, tic = 0.0, 0, time.perf_counter()
        bar.update(1)
        if done % t.checkpoint_every == 0 or done == stop:
            checkpoint(done)
        iteration = done
    bar.close()
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(model.eval(), iteration, run_dir, history)


def _step(
    module: nn.Module,
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    t: OptimConfig,
    use_amp: bool,
    device: torch.device,
    world: int,
) -> float:
    """One SGD step on a batch split into ``t.accumulate`` micro-batches; the batch's loss."""
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    align_corners = model.config.align_corners
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=device)
    labelled = None
    micro = list(zip(images.chunk(t.accumulate), labels.chunk(t.accumulate), strict=True))
    for m, (x, y) in enumerate(micro):
        last = m == len(micro) - 1
        sync = module.no_sync() if world > 1 and not last else contextlib.nullcontext()
        with sync:
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = module(x, upsample=False)  # (n, K, H/os, W/os)
            if labelled is None:
                labelled = _labelled_pixels(labels, logits.shape[-2:], t, align_corners, world)
            loss = segmentation_loss_sum(logits, y, t.upsample_logits, align_corners)
            # Normalised by the labelled pixels of the *global* batch, so the gradient is
            # that of one big batch whatever the number of processes and micro-batches
            # (DDP averages the gradients over the processes, hence the factor world).
            scaler.scale(loss * world / labelled).backward()
        total += loss.detach()
    scaler.step(optimizer)
    scaler.update()
    if world > 1:
        torch.distributed.all_reduce(total)
    return float(total / labelled)


def _labelled_pixels(
    labels: torch.Tensor, size: Sequence[int], t: OptimConfig, align_corners: bool, world: int
) -> torch.Tensor:
    """Pixels the loss sees in the global batch (labels (N, H, W), logits of ``size``)."""
    if not t.upsample_logits:
        labels = downsample_labels(labels, size, align_corners)  # (N, h, w)
    labelled = (labels != IGNORE_INDEX).sum().float()
    if world > 1:
        torch.distributed.all_reduce(labelled)
    return labelled.clamp(min=1.0)


def load_train_config(state: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint was trained with."""
    return from_dict(state["config"])


def default_eval_transform() -> Transform:
    """Normalisation only (whole images, no crop): the data package's ``EvalTransform``."""
    from atrous.data.transforms import EvalTransform

    return EvalTransform()
