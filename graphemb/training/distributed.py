"""Data-parallel training of one model over several processes (``train.distributed=true``).

Launch with ``torchrun`` (one process per GPU, or per CPU socket)::

    torchrun --nproc_per_node 4 -m graphemb train isoc-vgae --dataset synthetic --out runs/big \\
        --set train.num_neighbors=[10,5] --set train.batch_size=1024 --set train.distributed=true

Every process builds the same model (same seed) and wraps one training step (forward *and*
loss, so parameters used only by the loss are synchronised too) in
:class:`~torch.nn.parallel.DistributedDataParallel`: gloo on CPU, nccl on CUDA, one GPU per
process (``cuda:LOCAL_RANK``). ``train.batch_size`` is per process: every step cuts a *global*
batch of ``batch_size x world_size`` seed nodes (seed edges, graphs) from the epoch's shuffle,
which all ranks draw alike, and each rank takes its share, so ``K`` processes with batch ``b``
take the steps of one process with batch ``K b`` (gradients averaged over the ranks; exact for
losses averaged over equal shares of seeds, while a loss averaged over a random subset, e.g.
GraphMAE's masked seeds, or batch statistics such as BatchNorm's, weigh the ranks' parts alike
rather than by their sizes). The
epoch's losses are averaged over the ranks, so early stopping decides alike everywhere. Rank 0
alone shows progress, writes the run directory and computes the embeddings; the others write
nothing. Pattern: PyG ``examples/multi_gpu/distributed_sampling*.py``.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from graphemb.utils.device import resolve_device

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``active``: in a process group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def launched_by_torchrun() -> bool:
    """Whether the environment carries a rendezvous (``torchrun`` sets these variables)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


def _backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def join(cfg) -> World:
    """The :class:`World` of ``cfg`` (a ``TrainConfig``): :data:`SINGLE` unless
    ``cfg.distributed``; then the existing process group, or one started from torchrun's
    environment (destroyed at exit). Raises ``ConfigError`` when there is neither."""
    if not cfg.distributed:
        return SINGLE
    from graphemb.config import ConfigError

    if not dist.is_available():
        raise ConfigError("train.distributed=true needs torch.distributed, which this torch build lacks")
    if not dist.is_initialized():
        if not launched_by_torchrun():
            raise ConfigError("train.distributed=true needs a process group: launch with `torchrun "
                              "--nproc_per_node K -m graphemb train ...` (or call "
                              "torch.distributed.init_process_group before training); drop "
                              "--set train.distributed=true to train in one process")
        dist.init_process_group(_backend(resolve_device(cfg.device)))
        atexit.register(_destroy)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), active=True)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """Whether this process writes results: rank 0, or the only process."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def device_for(cfg, world: World) -> torch.device:
    """``cfg.device``, with a bare ``cuda`` (or ``auto`` on a GPU machine) meaning this
    process's GPU ``cuda:LOCAL_RANK`` when distributed."""
    dev = resolve_device(cfg.device)
    if dev.type == "cuda" and world.active:
        if dev.index is None:
            dev = torch.device("cuda", world.local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(dev)  # nccl collectives run on the current device
    return dev


def share(m: int, world: World) -> Tensor:
    """Positions ``[0, m)`` of a global batch of ``m`` items that this rank trains on (near-equal
    consecutive parts); with fewer items than ranks the items repeat, so that every rank
    takes the same number of steps."""
    idx = torch.arange(m)
    if world.size == 1:
        return idx
    if m < world.size:
        idx = torch.arange(world.size) % max(m, 1)
    return torch.tensor_split(idx, world.size)[world.rank]


def num_global_batches(n: int, batch_size: int, world: World) -> int:
    """Steps per epoch over ``n`` items in global batches of ``batch_size x world.size``."""
    return max(-(-n // (batch_size * world.size)), 1)


class LossStep(nn.Module):
    """One training step as a module (forward and loss), the unit DDP synchronises."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch, graph_batch: Optional[Tensor] = None):
        from graphemb.training.sampling import step_loss

        return step_loss(self.model, batch, graph_batch)


def data_parallel(runner: nn.Module, device: torch.device) -> nn.Module:
    """:class:`LossStep` of ``runner`` in ``DistributedDataParallel`` (unused parameters allowed:
    e.g. MaskGAE's decoders see no gradient on a batch without targets)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(LossStep(runner), device_ids=ids, find_unused_parameters=True)


def mean_over_ranks(totals: Dict[str, float], weight: float, world: World) -> Dict[str, float]:
    """``totals / weight`` with both summed over the ranks (one all-reduce; the ranks' keys
    come in the same order, the model's)."""
    keys = list(totals)
    if not world.active:
        return {k: totals[k] / weight for k in keys}
    v = torch.tensor([weight] + [totals[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        v = v.cuda()
    dist.all_reduce(v)
    return {k: float(v[i + 1] / v[0]) for i, k in enumerate(keys)}


def check_in_sync(params: Sequence[Tensor], world: World) -> None:
    """Raise when the ranks' parameters differ (they must, bit for bit, under DDP)."""
    if not world.active:
        return
    local = torch.stack([p.detach().double().sum() for p in params] + [torch.zeros((), dtype=torch.float64)])
    if dist.get_backend() == "nccl":
        local = local.cuda()
    gathered: List[Tensor] = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(gathered, local)
    if any(not torch.equal(g, gathered[0]) for g in gathered[1:]):
        raise RuntimeError("distributed training left the ranks with different parameters; every rank must "
                           "run the same config and code (report this with the command)")
