# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Many devices: data parallel and batch norm
#
# The paper trains batch norm with a batch of 16 (Sec. 4.1) and stresses that it needs a
# large batch (Tab. 9, Appendix A). Its baseline is one replica: 3.65 days on one K80 GPU
# (Appendix B). Tab. 11 then trains with up to 32 *asynchronous* replicas and finds no
# loss of accuracy. This chapter shows how the library splits a batch over processes
# (`torchrun`), why batch norm over the global batch makes several processes train
# exactly as one, what per-replica batch norm changes, and re-runs Tab. 11.

# %%
import os
import subprocess
import sys
from pathlib import Path

import torch
from IPython.display import Image, display

from atrous.experiments.chapter_tables import describe_results
from atrous.experiments.design import BASE_RECIPE, BUDGETS
from atrous.experiments.paths import RESULTS
from atrous.experiments.runner import reproduce
from atrous.model.checkpoint import load_model
from atrous.training.sample_stream import IterationSampler

SMALL = os.environ.get("ATROUS_CHAPTER_SMALL") == "1"  # set by the tests: a quick run
BUDGET = "quick" if SMALL else "full"
PROGRESS = not SMALL and not os.environ.get("TQDM_DISABLE")  # no bars in a kept notebook
LIVE = Path("runs/chapters") / BUDGET

# %% [markdown]
# ## 8.1 One global batch, split
#
# Iteration `i` uses samples `16 i` to `16 i + 15` of the (seeded) data stream, whatever
# the number of processes; process `rank` of `world` takes every `world`-th of them. So
# the images of a step do not depend on how many processes share it:

# %%
for world in (1, 2, 4):
    shares = [next(iter(IterationSampler(3, 4, 16, rank, world))) for rank in range(world)]
    print(f"{world} process(es), iteration 3: " + "  ".join(map(str, shares)))
    assert sorted(sum(shares, [])) == list(range(48, 64))

# %% [markdown]
# ## 8.2 Batch norm over the global batch
#
# DistributedDataParallel averages the gradients, but batch norm would still normalise
# each process's share by its own statistics. `atrous.model.global_bn.GlobalBatchNorm2d` adds
# the per-channel sums over processes first (PyTorch's `SyncBatchNorm` does the same, on
# GPUs only), so two processes compute what one computes on the whole batch. Take one
# training step of the same tiny run three ways, in float32, and compare the weights
# (and BN statistics) with one process:


# %%
def train(run_dir: Path, processes: int, *changes: str) -> dict[str, torch.Tensor]:
    """One step of the quick-budget base recipe on ``processes`` CPU processes; its weights."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable]  # fmt: skip
    command = [*launcher, "-m", "atrous", "train", str(BASE_RECIPE), "--run-dir", str(run_dir),
               "--quiet"]  # fmt: skip
    for change in (*BUDGETS["quick"], "train.iterations=1", "train.precision=fp32", *changes):
        command += ["--set", change]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    return load_model(run_dir)[0].state_dict()


one = train(LIVE / "ddp-1", 1)
two_global = train(LIVE / "ddp-2-global", 2)
two_own = train(LIVE / "ddp-2-per-replica", 2, "train.batch_norm=per_replica")


def largest_difference(a: dict, b: dict) -> float:
    return max(
        (a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point()
    )


d_global, d_own = largest_difference(one, two_global), largest_difference(one, two_own)
print(f"largest weight difference from one process: global BN {d_global:.2e}, "
      f"per-replica BN {d_own:.2e}")  # fmt: skip
assert d_global < 1e-3 < d_own

# %% [markdown]
# With global batch norm the difference is rounding (the sums are added in another
# order); with per-replica batch norm each process normalised two images by their own
# statistics, and the runs part ways at the first step. (Over more steps rounding grows
# too, since BN over a handful of values amplifies it; `tests/test_ddp.py` checks three
# steps of a smaller network at 1e-4.)
#
# ## 8.3 Tab. 11 at small scale
#
# The paper's replicas were asynchronous, each with its own BN statistics; synchronous
# training with global BN equals one process by construction (8.2), so the reproduction
# keeps what can differ: 1, 2 and 4 processes at the same global batch, each with
# per-replica BN (4 images each with 4 replicas). Stale gradients are not reproduced.

# %%
reproduce("tab11", budget=BUDGET, seeds=1, results=LIVE, progress=PROGRESS)
print(describe_results("tab11", LIVE, BUDGET))

# %%
print(describe_results("tab11", RESULTS))
if (RESULTS / "tab11.png").is_file():
    display(Image(filename=str(RESULTS / "tab11.png")))

# %% [markdown]
# ## Summary
#
# - `torchrun` processes each take every `world`-th image of the same global batch; the
#   data of a step does not depend on the number of processes.
# - With batch norm over the global batch, N processes train as one (to rounding); with
#   per-replica BN, as the paper's asynchronous replicas had, they do not.
# - Tab. 11's claim, "more replicas cost no accuracy", is judged on our runs with a
#   margin of one point.
#
# ## Exercises
#
# 1. Run 8.2 with `train.accumulate=2` in one process: is it the same as two processes
#    with per-replica BN? Why?
# 2. Time the three runs of 8.2. What does gloo's all-reduce cost per step on this CPU?
# 3. Add a variant with 8 replicas (batch 2 each) to `tab11` in `atrous/experiments/registry.py`.
#    What does Tab. 9 predict for it?
